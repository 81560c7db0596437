package idracsim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// Resource paths of a Dell iDRAC.
const (
	RootPath     = "/redfish/v1"
	SystemPath   = "/redfish/v1/Systems/System.Embedded.1"
	ManagerPath  = "/redfish/v1/Managers/iDRAC.Embedded.1"
	ChassisPath  = "/redfish/v1/Chassis/System.Embedded.1"
	ResetPath    = SystemPath + "/Actions/ComputerSystem.Reset"
	NICsPath     = SystemPath + "/EthernetInterfaces"
	JobsPath     = ManagerPath + "/Jobs"
	SessionsPath = "/redfish/v1/SessionService/Sessions"
)

// ServeHTTP answers one Redfish request.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	s.cfg.Log.Debug("redfish request", "bmc", s.cfg.Node, "method", r.Method, "path", r.URL.Path)
	// Redfish 6.1: a URI with or without a trailing slash names the same
	// resource.
	if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
		r.URL.Path = strings.TrimRight(p, "/")
	}
	s.withFaults(s.withAuth(s.mux())).ServeHTTP(w, r)
}

func (s *Sim) mux() *http.ServeMux {
	m := http.NewServeMux()
	get := func(path string, body func() any) {
		m.HandleFunc("GET "+path, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, body()) })
	}
	get("/redfish", func() any { return map[string]string{"v1": "/redfish/v1/"} })
	get(RootPath, s.serviceRoot)
	get("/redfish/v1/Systems", func() any { return collection("/redfish/v1/Systems", "ComputerSystem", SystemPath) })
	m.HandleFunc("GET "+SystemPath, func(w http.ResponseWriter, _ *http.Request) {
		body, etag := s.system()
		w.Header().Set("ETag", etag)
		writeJSON(w, http.StatusOK, body)
	})
	get("/redfish/v1/Managers", func() any { return collection("/redfish/v1/Managers", "Manager", ManagerPath) })
	get(ManagerPath, s.manager)
	get("/redfish/v1/Chassis", func() any { return collection("/redfish/v1/Chassis", "Chassis", ChassisPath) })
	get(ChassisPath, s.chassis)
	get(NICsPath, s.nicCollection)
	get(JobsPath, s.jobCollection)
	get("/redfish/v1/SessionService", sessionService)
	get(SessionsPath, s.sessionCollection)
	m.HandleFunc("GET "+NICsPath+"/{id}", s.getNIC)
	m.HandleFunc("GET "+JobsPath+"/{id}", s.getJob)
	m.HandleFunc("GET "+SessionsPath+"/{id}", s.getSession)
	m.HandleFunc("PATCH "+SystemPath, s.patchSystem)
	m.HandleFunc("POST "+ResetPath, s.postReset)
	m.HandleFunc("POST "+SessionsPath, s.postSession)
	m.HandleFunc("DELETE "+SessionsPath+"/{id}", s.deleteSession)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if isKnownPath(r.URL.Path) {
			writeError(w, http.StatusMethodNotAllowed, msgMethod)
			return
		}
		writeError(w, http.StatusNotFound, msgNotFound)
	})
	return m
}

func isKnownPath(p string) bool {
	for _, k := range []string{RootPath, SystemPath, ManagerPath, ChassisPath, ResetPath, NICsPath, SessionsPath} {
		if p == k {
			return true
		}
	}
	return false
}

func odataID(id string) map[string]string { return map[string]string{"@odata.id": id} }

func collection(path, typ string, members ...string) map[string]any {
	ms := make([]map[string]string, len(members))
	for i, m := range members {
		ms[i] = odataID(m)
	}
	return map[string]any{
		"@odata.context":      "/redfish/v1/$metadata#" + typ + "Collection." + typ + "Collection",
		"@odata.id":           path,
		"@odata.type":         "#" + typ + "Collection." + typ + "Collection",
		"Name":                typ + " Collection",
		"Members":             ms,
		"Members@odata.count": len(ms),
	}
}

func (s *Sim) serviceRoot() any {
	return map[string]any{
		"@odata.context": "/redfish/v1/$metadata#ServiceRoot.ServiceRoot",
		"@odata.id":      RootPath,
		"@odata.type":    "#ServiceRoot.v1_3_0.ServiceRoot",
		"Id":             "RootService",
		"Name":           "Root Service",
		"RedfishVersion": "1.4.0",
		"Product":        "Integrated Dell Remote Access Controller",
		"Vendor":         "Dell",
		"Systems":        odataID("/redfish/v1/Systems"),
		"Managers":       odataID("/redfish/v1/Managers"),
		"Chassis":        odataID("/redfish/v1/Chassis"),
		"SessionService": odataID("/redfish/v1/SessionService"),
		"Links":          map[string]any{"Sessions": odataID(SessionsPath)},
	}
}

func (s *Sim) system() (any, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]any{
		"@odata.context": "/redfish/v1/$metadata#ComputerSystem.ComputerSystem",
		"@odata.id":      SystemPath,
		"@odata.type":    "#ComputerSystem.v1_5_0.ComputerSystem",
		"Id":             "System.Embedded.1",
		"Name":           "System",
		"SystemType":     "Physical",
		"Manufacturer":   "Dell Inc.",
		"Model":          s.cfg.Model,
		"SKU":            s.cfg.ServiceTag,
		"SerialNumber":   "CN7475137I0" + s.cfg.ServiceTag[:3],
		"BiosVersion":    s.cfg.BIOSVersion,
		"HostName":       "",
		"PowerState":     s.power,
		"IndicatorLED":   "Off",
		"Status":         map[string]string{"Health": "OK", "HealthRollup": "OK", "State": "Enabled"},
		"Boot": map[string]any{
			"BootSourceOverrideTarget":                         s.target,
			"BootSourceOverrideEnabled":                        s.enabled,
			"BootSourceOverrideMode":                           s.mode,
			"BootSourceOverrideTarget@Redfish.AllowableValues": allowedTargets,
			"UefiTargetBootSourceOverride":                     "",
		},
		"Actions": map[string]any{"#ComputerSystem.Reset": map[string]any{
			"target":                            ResetPath,
			"ResetType@Redfish.AllowableValues": s.cfg.ResetTypes,
		}},
		"EthernetInterfaces": odataID(NICsPath),
		"ProcessorSummary":   map[string]any{"Count": 2, "Model": "Intel(R) Xeon(R) CPU E5-2630 v2 @ 2.60GHz"},
		"MemorySummary":      map[string]any{"TotalSystemMemoryGiB": 48},
		"Links": map[string]any{
			"Chassis":   []map[string]string{odataID(ChassisPath)},
			"ManagedBy": []map[string]string{odataID(ManagerPath)},
		},
	}, s.etag()
}

func (s *Sim) manager() any {
	return map[string]any{
		"@odata.context":  "/redfish/v1/$metadata#Manager.Manager",
		"@odata.id":       ManagerPath,
		"@odata.type":     "#Manager.v1_3_3.Manager",
		"Id":              "iDRAC.Embedded.1",
		"Name":            "Manager",
		"ManagerType":     "BMC",
		"Model":           "12G Monolithic",
		"FirmwareVersion": s.cfg.Firmware,
		"Status":          map[string]string{"Health": "OK", "State": "Enabled"},
		"Links": map[string]any{
			"ManagerForServers": []map[string]string{odataID(SystemPath)},
		},
	}
}

func (s *Sim) chassis() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]any{
		"@odata.id":   ChassisPath,
		"@odata.type": "#Chassis.v1_6_0.Chassis",
		"Id":          "System.Embedded.1",
		"Name":        "Computer System Chassis",
		"ChassisType": "RackMount",
		"Model":       s.cfg.Model,
		"SKU":         s.cfg.ServiceTag,
		"PowerState":  s.power,
		"Status":      map[string]string{"Health": "OK", "State": "Enabled"},
	}
}

// nicCollection lists the NICs in reverse order of their ids: an iDRAC does
// not promise an order, and a client that matches by position must fail
// here rather than on a real rack.
func (s *Sim) nicCollection() any {
	ids := make([]string, 0, len(s.cfg.NICs))
	for i := len(s.cfg.NICs) - 1; i >= 0; i-- {
		ids = append(ids, NICsPath+"/"+s.cfg.NICs[i])
	}
	return collection(NICsPath, "EthernetInterface", ids...)
}

func (s *Sim) getNIC(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	known := false
	for _, n := range s.cfg.NICs {
		known = known || n == id
	}
	if !known {
		writeError(w, http.StatusNotFound, msgNotFound)
		return
	}
	mac := s.macOf(id)
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context":      "/redfish/v1/$metadata#EthernetInterface.EthernetInterface",
		"@odata.id":           NICsPath + "/" + id,
		"@odata.type":         "#EthernetInterface.v1_4_0.EthernetInterface",
		"Id":                  id,
		"Name":                "System Ethernet Interface",
		"MACAddress":          mac,
		"PermanentMACAddress": mac,
		"LinkStatus":          "LinkUp",
		"SpeedMbps":           1000,
		"Status":              map[string]string{"Health": "OK", "State": "Enabled"},
	})
}

func (s *Sim) jobCollection() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, len(s.jobs))
	for i, j := range s.jobs {
		ids[i] = JobsPath + "/" + j.ID
	}
	return collection(JobsPath, "DellJob", ids...)
}

func (s *Sim) getJob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if j.ID == r.PathValue("id") {
			pct := 0
			if j.State == "Completed" {
				pct = 100
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"@odata.id": JobsPath + "/" + j.ID, "@odata.type": "#DellJob.v1_0_0.DellJob",
				"Id": j.ID, "Name": j.Name, "JobState": j.State, "JobType": "BIOSConfiguration",
				"PercentComplete": pct, "Message": "Task successfully scheduled.",
			})
			return
		}
	}
	writeError(w, http.StatusNotFound, msgNotFound)
}

func (s *Sim) patchSystem(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Boot *bootPatch `json:"Boot"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, msgMalformed)
		return
	}
	if body.Boot != nil {
		if status, m := s.setBoot(*body.Boot, r.Header.Get("If-Match")); m != nil {
			writeError(w, status, m)
			return
		}
	}
	writeJSON(w, http.StatusOK, successBody())
}

func (s *Sim) postReset(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ResetType string `json:"ResetType"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, msgMalformed)
		return
	}
	status, m := s.reset(body.ResetType)
	if m != nil {
		writeError(w, status, m)
		return
	}
	w.WriteHeader(status)
}

func successBody() map[string]any {
	return map[string]any{"@Message.ExtendedInfo": []map[string]any{{
		"Message": "Successfully Completed Request", "MessageId": "Base.1.8.Success",
		"Resolution": "None", "Severity": "OK", "MessageArgs": []string{},
	}}}
}
