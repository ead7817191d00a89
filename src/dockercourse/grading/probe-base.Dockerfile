FROM {base}
RUN pip install --no-cache-dir {pins}
