#!/bin/bash
# Keepalived's track script: this node's haproxy accepts connections on its
# stats port. A connection, not a process name, so that load balancers
# sharing a PID namespace (the virtual lab) each see only their own.
exec 3<>/dev/tcp/10.3.1.11/1936
