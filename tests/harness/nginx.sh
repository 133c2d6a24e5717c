# tests/harness/nginx.sh: Debian's nginx as a kernel HTTP server in the lab, for the
# kernel-tier tests and bench/http.sh. Source it after harness.sh.
#
#   nginx_prepare DIR ADDR PORT BYTES [ADDR6]
#       writes DIR/nginx.conf serving DIR/www/ on ADDR:PORT (and [ADDR6]:PORT if
#       given), with a static file
#       /file.bin of BYTES bytes; access_log off, one worker, pid and logs in DIR. On
#       PORT it never closes a keep-alive connection first (keepalive_requests 10^9); on
#       PORT+1 it closes each after 100 requests (Connection: close), as nginx does by
#       default after 1000.
# Why two ports: a server that closes first holds the connection in TIME_WAIT, and the
# next xstack load run starts again at port 49152 with a fresh ISN secret, so about half
# of its SYNs to a 4-tuple in TIME_WAIT meet a challenge ACK and connect only after the
# SYN's 1 s retransmission. Runs that make nginx close first go to PORT+1, once per lab.
#   nginx_start VAR DIR [CPUS]
#       nginx in the foreground (daemon off) in namespace xs-b, under taskset -c CPUS if
#       given; waits until it listens; VAR is its master's PID (stop it with hx_stop,
#       which SIGTERMs the master: nginx then stops its worker).
# nginx runs as root (user root) so that its worker can read the temp directory.

nginx_prepare() {
    local dir=$1 addr=$2 port=$3 bytes=$4 addr6=${5:-} listen6=""
    [ -n "$addr6" ] && listen6="listen [$addr6]:$port backlog=4096;"
    command -v nginx >/dev/null || { echo "nginx.sh: nginx is not installed: run scripts/setup.sh" >&2; return 1; }
    mkdir -p "$dir/www" "$dir/tmp"
    head -c "$bytes" /dev/urandom >"$dir/www/file.bin"
    cat >"$dir/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 60s;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type application/octet-stream;
    server {
        listen $addr:$port backlog=4096;
        $listen6
        keepalive_requests 1000000000;
        root $dir/www;
        location / { }
    }
    server {
        listen $addr:$((port + 1)) backlog=4096;
        keepalive_requests 100;
        root $dir/www;
        location / { }
    }
}
EOF
}

nginx_start() {
    local _ng_var=$1 dir=$2 cpus=${3:-} port
    port=$(sed -n 's/.*listen [0-9.]*:\([0-9]*\).*/\1/p' "$dir/nginx.conf" | tail -n 1)
    local cmd=(nginx -p "$dir" -c "$dir/nginx.conf")
    [ -n "$cpus" ] && cmd=(taskset -c "$cpus" "${cmd[@]}")
    hx_peer "$_ng_var" nginx "$HX_NS_B" "tcp:$port" "$dir/nginx.out" "$dir/nginx.err" "${cmd[@]}"
}
