# Sourced by the bench scripts: nginx_head DIR prints the part of an nginx.conf both nginx peers
# share, as nginx's documentation recommends for production (worker_processes auto, sendfile,
# no access log — tinycdn writes none — and a disk cache under DIR/cache); the caller closes the
# http block after its upstream and server blocks.
nginx_head() {
  local d="$1"
  cat <<NGX
worker_processes auto;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  client_body_temp_path $d/tmp; proxy_temp_path $d/tmp;
  fastcgi_temp_path $d/tmp; uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
  proxy_cache_path $d/cache levels=1:2 keys_zone=edge:64m max_size=2g inactive=1d use_temp_path=off;
NGX
}

# nginx_cache_conf DIR PORT APP_HOSTPORT prints a whole nginx.conf: nginx_head DIR and a caching
# reverse proxy on 127.0.0.1:PORT in front of APP_HOSTPORT, with the settings nginx's documentation
# recommends for production (keep-alive upstream, proxy_cache_lock, revalidation, stale on error,
# background update) and the cache's verdict in X-Cache-Status.
nginx_cache_conf() {
  local d="$1" port="$2" app="$3"
  nginx_head "$d"
  cat <<NGX
  upstream app { server $app; keepalive 64; }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host \$host;
      proxy_cache edge; proxy_cache_lock on; proxy_cache_revalidate on;
      proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
      proxy_cache_background_update on;
      add_header X-Cache-Status \$upstream_cache_status;
    }
  }
}
NGX
}
