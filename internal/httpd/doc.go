// Package httpd is the appliance's HTTP server: what a network-booting
// node fetches after its firmware, and where its installer reports back.
//
//	GET  /boot.ipxe?mac=MAC              the node's iPXE script (bootcfg)
//	GET  /ks/NODE                        the node's kickstart
//	GET  /api/v1/nodes/NODE/kickstart    the same (the URL in ks=)
//	POST /api/v1/nodes/NODE/events       installer callbacks
//	POST /api/v1/nodes/NODE/logs/NAME    installer log uploads
//	GET  /images/PATH                    install trees, with Range
//	GET  /healthz                        liveness
//
// # Who may fetch what
//
// A kickstart holds the root password hash, the node's private host keys
// and its callback token, so it is served only to a request that comes
// from the node's own PXE address (the DHCP server reserves it) and
// carries the node's token (?token=, which the boot config puts in ks=, or
// "Authorization: Bearer"). Callbacks and log uploads need both as well. The address is
// the TCP peer's: there is no trusted-proxy header, the appliance is on
// the node's network. The iPXE script of a node in install mode carries
// the token in its ks= argument, so it too is served only to the node's
// address; any other asker gets a local-boot script. Every refusal is an
// event (source "http", kind "refused", attrs "what" and "reason").
//
// # No reinstall loops
//
// The "installed" callback turns the node's netboot flag off in the state
// store, a committed and fsynced bbolt transaction, before it answers
// 200: if the flag cannot be written the node gets a 500 and retries, so
// a node told "done" never PXE-boots into its installer again. The next
// /boot.ipxe for its MAC gives the local-boot script.
//
// # Installer logs
//
// The kickstart uploads the installer's logs (anaconda.log, program.log,
// storage.log, its %pre and %post logs, ks-script-*.log): the body is the
// file, at most MaxLogBytes. NAME is reduced to a safe file name (LogName)
// and the log is kept as LogDir/NODE/NAME, written to a temporary file and
// renamed, replacing an earlier upload of that name, with the node's
// token (which the installer's loader logs with the ks= URL) blanked out.
// Each upload is an event (kind "log", attrs "file" and "bytes").
//
// # Install trees
//
// /images/PATH is PATH in the Images root (an os.Root: no "..", no
// absolute paths, no symlink leaves it), served by http.ServeContent, so
// Range, If-Range and conditional requests work, and plain TCP uses
// sendfile. Directories are not listed. Files are kept open between
// requests for up to a second (openFiles).
//
// The request an installer makes hundreds of times, a plain GET or HEAD
// of a whole file with no Range, condition or body, is answered by the
// install-tree lane (lane.go) in front of net/http: it accepts every
// connection, answers such requests itself (the head with MSG_MORE, the
// file by sendfile(2)), and hands a connection to net/http, with what it
// had read of it, at the first request that is anything else. Its parser
// takes a strict subset of HTTP/1.1 (FuzzParsePlain holds it to
// net/http's), so the two never read one request two ways, and it
// answers nothing but 200: every error is net/http's. Its requests are
// counted through Server.Observe, as Middleware counts the others.
package httpd
