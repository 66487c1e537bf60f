# nginx: the reverse proxy of compose.prod.yaml. The slow-clients load test runs the
# project's own proxy configuration (containers/nginx/hc.conf) with a host nginx in front
# of a real gunicorn; the package's own service is not wanted.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    apt-get install -y -qq nginx-light >/dev/null
fi
service nginx stop >/dev/null 2>&1 || true
export HC_REQUIRE_NGINX=1
