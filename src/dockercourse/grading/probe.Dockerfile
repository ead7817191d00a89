FROM {base}
WORKDIR /app
COPY {req} /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt
COPY app/ /app/
COPY .dockercourse-probe.py /probe_app.py
