#!/bin/sh
# Entrypoint of the test workload image: serve /www over HTTP on $PORT (default 8080) with
# busybox httpd, after writing a page that names this container. PID 1 ignores SIGTERM unless
# it handles it, so trap it and exit at once (httpd dies with the PID namespace).
port=${PORT:-8080}
echo "hello from $(hostname)" > /www/index.html
echo "serving /www on port $port"
trap 'echo "stopping"; exit 0' TERM INT
httpd -f -v -p "$port" -h /www &
wait
