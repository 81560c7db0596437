package httpd

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/provision/provision/kickstart"
	"github.com/provision/provision/provision"
)

// authNode checks that a request about {node} comes from that node's PXE
// address with its token. On refusal it has answered and recorded the
// request, and returns nil.
func (s *Server) authNode(w http.ResponseWriter, r *http.Request, what string) *provision.NodePlan {
	ip := peer(r)
	name := r.PathValue("node")
	ev := provision.Event{IP: ip.String()}
	node, ok := s.Plan().Node(name)
	if !ok {
		s.refuse(w, r, ev, what, "unknown-node", http.StatusNotFound)
		return nil
	}
	ev.Node = node.Name
	switch {
	case node.Appliance:
		s.refuse(w, r, ev, what, "appliance", http.StatusNotFound)
		return nil
	case !node.PXE.Address.IsValid() || ip != node.PXE.Address:
		s.refuse(w, r, ev, what, "address", http.StatusForbidden)
		return nil
	}
	tok := bearer(r)
	if tok == "" {
		s.refuse(w, r, ev, what, "no-token", http.StatusForbidden)
		return nil
	}
	if !s.Tokens.Verify(node.Name, tok) {
		s.refuse(w, r, ev, what, "token", http.StatusForbidden)
		return nil
	}
	return node
}

// kickstart serves the node's kickstart to the node itself, while its
// netboot is on.
func (s *Server) kickstart(w http.ResponseWriter, r *http.Request) {
	node := s.authNode(w, r, "kickstart")
	if node == nil {
		return
	}
	ev := provision.Event{Node: node.Name, IP: peer(r).String()}
	netboot, err := s.Flags.Netboot(node)
	if err != nil {
		s.logger().Error("kickstart: netboot flag", "node", node.Name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if !netboot {
		// An installer started by hand, or a netboot turned off while the
		// node booted: no install without the operator's say.
		s.refuse(w, r, ev, "kickstart", "netboot-off", http.StatusForbidden)
		return
	}
	plan := s.Plan()
	b, err := s.Kickstart(r.Context(), plan, node)
	if err != nil {
		s.logger().Error("kickstart: render", "node", node.Name, "err", err)
		code := http.StatusInternalServerError
		if errors.Is(err, kickstart.ErrAppliance) {
			code = http.StatusNotFound
		}
		http.Error(w, http.StatusText(code), code)
		return
	}
	ev.Kind = "kickstart"
	ev.Attrs = map[string]string{"bytes": fmt.Sprint(len(b))}
	// anaconda's kssendmac names the NICs it has.
	if m := r.Header.Get("X-RHN-Provisioning-MAC-0"); m != "" && len(m) < 64 {
		ev.Attrs["mac0"] = m
	}
	s.emit(ev)
	s.logger().Info("kickstart served", "node", node.Name, "ip", ev.IP, "bytes", len(b))
	writeScript(w, b)
}
