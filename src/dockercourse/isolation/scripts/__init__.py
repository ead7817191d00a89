"""Scripts that run *inside* course containers (``python3 -c <text>``, stdlib only).

They are real files so that ruff checks them; :func:`dockercourse.isolation.helper.script`
loads their text with :mod:`importlib.resources`. Never import them: each one reads
``sys.argv`` and runs at once.
"""
