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
