package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/provision/provision/provision"
)

// maxActionBody bounds an action's JSON body.
const maxActionBody = 4 << 10

// authorized refuses a request without the operator's bearer token.
func (s *Server) authorized(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Authorized == nil || !s.Authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="provision"`)
			writeError(w, http.StatusUnauthorized, "a bearer token is needed (STATE/api.token)")
			return
		}
		next(w, r)
	}
}

// NetbootRequest turns a node's netboot on or off.
type NetbootRequest struct {
	On *bool `json:"on"`
}

// ActionRequest is the body of a BMC action; every field is optional.
type ActionRequest struct {
	// Action is the power action; only "cycle" (power on, or restart
	// when on) is offered.
	Action string `json:"action,omitempty"`
	// Force acts on a node in the middle of an install.
	Force bool `json:"force,omitempty"`
}

// ActionResult answers an action.
type ActionResult struct {
	Node    string            `json:"node"`
	Action  string            `json:"action"`
	Netboot *bool             `json:"netboot,omitempty"`
	MACs    map[string]string `json:"macs,omitempty"`
}

// decode reads a JSON body; an empty body leaves v as it is.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxActionBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "bad request body: "+err.Error())
		return false
	}
	return true
}

func (s *Server) netboot(w http.ResponseWriter, r *http.Request) {
	n, ok := s.lookup(w, r)
	if !ok {
		return
	}
	var req NetbootRequest
	if !decode(w, r, &req) {
		return
	}
	if req.On == nil {
		writeError(w, http.StatusBadRequest, `netboot: the body says {"on": true} or {"on": false}`)
		return
	}
	if *req.On && n.Appliance {
		writeError(w, http.StatusConflict, fmt.Sprintf("node %s is the appliance: it never netboots", n.Name))
		return
	}
	if err := s.SetNetboot(n.Name, *req.On); err != nil {
		s.logger().Error("netboot", "node", n.Name, "on", *req.On, "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.logger().Info("netboot set through the API", "node", n.Name, "on", *req.On)
	writeJSON(w, http.StatusOK, ActionResult{Node: n.Name, Action: "netboot", Netboot: req.On})
}

// bmcTarget checks a BMC action's node: known, not the appliance, not in
// the middle of an install unless forced, and a BMC to act through.
func (s *Server) bmcTarget(w http.ResponseWriter, r *http.Request, req *ActionRequest) (*provision.NodePlan, bool) {
	n, ok := s.lookup(w, r)
	if !ok || !decode(w, r, req) {
		return nil, false
	}
	if s.BMC == nil {
		writeError(w, http.StatusServiceUnavailable, "this appliance has no iDRAC access")
		return nil, false
	}
	if n.Appliance {
		writeError(w, http.StatusConflict, fmt.Sprintf("node %s is the appliance: the API does not power it", n.Name))
		return nil, false
	}
	if st := s.Tracker.Status(n.Name); st.State.Busy() && !req.Force {
		writeError(w, http.StatusConflict, fmt.Sprintf("node %s is %s: an install is running (force to act anyway)", n.Name, st.State))
		return nil, false
	}
	return n, true
}

func (s *Server) pxe(w http.ResponseWriter, r *http.Request) {
	var req ActionRequest
	n, ok := s.bmcTarget(w, r, &req)
	if !ok {
		return
	}
	if err := s.BMC.PXEOnce(r.Context(), n); err != nil {
		s.bmcFailed(w, n, "pxe", err)
		return
	}
	writeJSON(w, http.StatusOK, ActionResult{Node: n.Name, Action: "pxe"})
}

func (s *Server) power(w http.ResponseWriter, r *http.Request) {
	var req ActionRequest
	n, ok := s.bmcTarget(w, r, &req)
	if !ok {
		return
	}
	if req.Action != "cycle" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`power action %q: want "cycle" (on, or restart when on)`, req.Action))
		return
	}
	if err := s.BMC.PowerCycle(r.Context(), n); err != nil {
		s.bmcFailed(w, n, "power", err)
		return
	}
	writeJSON(w, http.StatusOK, ActionResult{Node: n.Name, Action: "power-cycle"})
}

func (s *Server) discover(w http.ResponseWriter, r *http.Request) {
	var req ActionRequest
	n, ok := s.bmcTarget(w, r, &req)
	if !ok {
		return
	}
	macs, err := s.BMC.Discover(r.Context(), n)
	if err == nil && s.Discovered != nil {
		err = s.Discovered(r.Context(), n.Name, macs)
	}
	if err != nil {
		s.bmcFailed(w, n, "discover", err)
		return
	}
	writeJSON(w, http.StatusOK, ActionResult{Node: n.Name, Action: "discover", MACs: macs})
}

// bmcFailed answers a failed BMC action. The iDRAC client's errors name
// the node, its endpoint and the step, never its credentials.
func (s *Server) bmcFailed(w http.ResponseWriter, n *provision.NodePlan, action string, err error) {
	s.logger().Warn("BMC action failed", "node", n.Name, "action", action, "err", err)
	writeError(w, http.StatusBadGateway, err.Error())
}
