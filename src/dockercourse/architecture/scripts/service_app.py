"""The web service of notebook 05's demonstrations (the TP's app, smaller): a
message, the host name, and a health route for HEALTHCHECK."""

import os
import socket

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def accueil():
    return jsonify(message=os.environ.get("MESSAGE", "Bonjour depuis un conteneur !"),
                   hostname=socket.gethostname())


@app.get("/sante")
def sante():
    return jsonify(status="ok")


if __name__ == "__main__":
    # the Flask development server, on every interface of the container
    app.run(host=os.environ.get("HOTE", "0.0.0.0"), port=8000)
