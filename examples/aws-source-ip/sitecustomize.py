# Makes a Python program (the AWS CLI, boto3) connect from the source
# address in PRIVLINK_SOURCE_IP, as `curl --interface` does: privlink's S3
# gateway endpoint decides the client's subnet, and so its route table, by
# the connection's source address (docs/gateway-endpoints.md).
#
#   PYTHONPATH=examples/aws-source-ip PRIVLINK_SOURCE_IP=127.0.6.50 \
#     aws --endpoint-url http://127.0.5.1:9000 s3 ls
#
# Python imports sitecustomize at start-up from the first directory of
# sys.path that has one: PYTHONPATH comes first. Only IPv4 sockets that
# are not bound yet are bound, to port 0 (the kernel picks the port).
import os
import socket

_source = os.environ.get("PRIVLINK_SOURCE_IP")

if _source:
    _connect = socket.socket.connect

    def _bound_connect(self, address):
        if self.family == socket.AF_INET and self.getsockname()[1] == 0:
            self.bind((_source, 0))
        return _connect(self, address)

    socket.socket.connect = _bound_connect
