#!/bin/sh
# Keepalived's track script: haproxy runs.
exec killall -0 haproxy
