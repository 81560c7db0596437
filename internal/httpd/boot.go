package httpd

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/provision/provision/internal/bootcfg"
	"github.com/provision/provision/provision"
)

// nodeByMAC finds the node owning mac: declared in the plan, else
// discovered over its BMC.
func (s *Server) nodeByMAC(plan *provision.Plan, mac net.HardwareAddr) (*provision.NodePlan, error) {
	if n, ok := plan.NodeByMAC(mac); ok {
		return n, nil
	}
	if s.MACs == nil {
		return nil, nil
	}
	found, err := s.MACs()
	if err != nil {
		return nil, fmt.Errorf("discovered MACs: %w", err)
	}
	want := mac.String()
	for name, nics := range found {
		for _, m := range nics {
			if strings.EqualFold(m, want) {
				if n, ok := plan.Node(name); ok {
					return n, nil
				}
			}
		}
	}
	return nil, nil
}

// bootScript serves GET /boot.ipxe?mac=: the script of the node that owns
// the MAC for its netboot state, or a local-boot script.
func (s *Server) bootScript(w http.ResponseWriter, r *http.Request) {
	plan := s.Plan()
	ip := peer(r)
	raw := r.URL.Query().Get("mac")
	mac, err := bootcfg.ParseMAC(raw)
	if err != nil {
		s.refuse(w, r, provision.Event{IP: ip.String()}, "boot.ipxe", "bad-mac", http.StatusBadRequest)
		return
	}
	ev := provision.Event{MAC: mac.String(), IP: ip.String()}
	node, err := s.nodeByMAC(plan, mac)
	if err != nil {
		// Without the MAC table the node cannot be told apart from a
		// stranger; a stranger boots its disk.
		s.logger().Error("boot script: node lookup", "mac", mac.String(), "err", err)
	}
	if node == nil {
		ev.Kind, ev.Msg = "unknown-mac", "boot script asked for a MAC not in the site"
		s.emit(ev)
		s.logger().Warn("boot script for unknown MAC", "mac", mac.String(), "ip", ip.String())
		writeScript(w, bootcfg.UnknownIPXE(plan, mac))
		return
	}
	ev.Node = node.Name
	netboot, err := s.Flags.Netboot(node)
	if err != nil {
		// Fail towards the local disk: a node that cannot be told it is
		// installed must not install again.
		s.logger().Error("boot script: netboot flag", "node", node.Name, "err", err)
		netboot = false
	}
	st := bootcfg.State{Netboot: netboot}
	if netboot {
		if ip != node.PXE.Address {
			// An install script carries the node's token: only the node
			// gets it. Anyone else is sent to the local disk.
			s.refuse(w, r, ev, "boot.ipxe", "address", 0)
			b, _ := bootcfg.IPXE(plan, node, bootcfg.State{Netboot: false})
			writeScript(w, b)
			return
		}
		tok, err := s.Tokens.Token(node.Name)
		if err != nil {
			s.logger().Error("boot script: token", "node", node.Name, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		st.Token = provision.NewSecret(tok)
	}
	b, err := bootcfg.IPXE(plan, node, st)
	if err != nil {
		s.logger().Error("boot script: render", "node", node.Name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	ev.Kind = "boot-script"
	ev.Attrs = map[string]string{"netboot": fmt.Sprint(netboot), "loader": "ipxe"}
	s.emit(ev)
	s.logger().Info("boot script", "node", node.Name, "mac", mac.String(), "ip", ip.String(), "netboot", netboot)
	writeScript(w, b)
}

func writeScript(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", fmt.Sprint(len(b)))
	_, _ = w.Write(b)
}

// refuse records a refused request and, when code is not zero, answers
// it with code. Reasons are fixed words; nothing the client sent but its
// address and MAC reaches the event or the log.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, ev provision.Event, what, reason string, code int) {
	ev.Kind = "refused"
	ev.Msg = what + " refused: " + reason
	ev.Attrs = map[string]string{"what": what, "reason": reason, "method": r.Method}
	s.emit(ev)
	s.logger().Warn("refused", "what", what, "reason", reason, "node", ev.Node, "mac", ev.MAC, "ip", ev.IP)
	if code != 0 {
		http.Error(w, http.StatusText(code)+": "+reason, code)
	}
}

// bearer returns the token of a request: "Authorization: Bearer T", else
// ?token=T.
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
		return ""
	}
	return r.URL.Query().Get("token")
}
