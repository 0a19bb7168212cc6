"""Generated gRPC and protobuf modules of the Container Maker API (private).

Made by ``scripts/generate_protos.py`` from ``protos/``; do not edit. Import the API through
:mod:`container_maker.api` instead of from here.
"""
