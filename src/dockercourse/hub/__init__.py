"""The class server: ``python -m dockercourse hub`` (:mod:`.app`).

One Linux machine becomes the class's JupyterHub; each member (:mod:`.roster`) logs in and gets a
session of their own (:mod:`.session`, started by :mod:`.spawner`): a real Unix account, a disk, a
cgroup, a network namespace (:mod:`.network`) and a rootless current Docker engine, built from
the grading sandbox's pieces (:mod:`dockercourse.grading`). See docs/class-server.md.
"""
