#!/usr/bin/env python3
"""A hostile registry over HTTPS, for one security test: it answers every
request with 401 and a Bearer challenge whose token realm is plain HTTP
(given on the command line), the way a registry that wants the password in
clear would. It writes its port to PORT_FILE once it listens.

usage: tls-registry.py PORT_FILE CERT KEY REALM
"""
import http.server
import ssl
import sys

port_file, cert, key, realm = sys.argv[1:5]


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        self.send_response(401)
        self.send_header("WWW-Authenticate", f'Bearer realm="{realm}",service="hostile"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = do_PUT = answer

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402

os.rename(port_file + ".tmp", port_file)
server.serve_forever()
