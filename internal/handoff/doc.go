// Package handoff gives an installed node its role profile over SSH: it
// waits for the node's sshd, verifies the host key against the one the
// appliance generated for the node before installing it (internal/
// hostkeys; never trust on first use, never an insecure callback), logs
// in as root with the appliance's key, uploads the bundle over SFTP,
// runs apply.sh and streams its output into the node's events.
//
// Events: ssh/ssh-up when the node's sshd is verified and logged into,
// profile/profile-output for each line apply.sh prints (attr stream),
// profile/applied when it exits 0, and profile/failed with the reason
// otherwise (unreachable until the deadline, wrong host key, upload error,
// non-zero exit).
package handoff
