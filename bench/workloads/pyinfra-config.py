# pyinfra's config for the benchmark (pyinfra --config): the connection timeout every tool gets
# (bench/run.py CONNECT_TIMEOUT_S). A 1000-host fleet's handshakes queue on the machine's cores
# for longer than the usual 10 s.
CONNECT_TIMEOUT = 120
