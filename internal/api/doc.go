// Package api serves the operator REST API of a running appliance under
// /api/v1 (documented in docs/API.md): the plan, every node's state, a
// node's timeline, a Server-Sent Events stream of node events, and the
// actions an operator takes on one node (netboot on or off, one-time PXE,
// power cycle, MAC discovery).
//
// Reads are open to the provisioning network; every action needs the
// appliance's bearer token, checked by the Authorized hook. The routes
// the installer uses (a node's kickstart and its callbacks) belong to
// internal/httpd and are not served here.
package api
