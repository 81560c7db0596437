package idracsim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
)

// withAuth lets through the requests an iDRAC answers without credentials
// (the service root, and logging in) and checks the rest: an X-Auth-Token
// of an open session, or HTTP Basic credentials.
func (s *Sim) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		public := (r.Method == http.MethodGet && (p == "/redfish" || p == RootPath)) ||
			(r.Method == http.MethodPost && p == SessionsPath)
		if public || s.authorized(r) {
			next.ServeHTTP(w, r)
			return
		}
		writeError(w, http.StatusUnauthorized, msgBadLogin)
	})
}

func (s *Sim) authorized(r *http.Request) bool {
	if tok := r.Header.Get("X-Auth-Token"); tok != "" {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.expireSessions()
		for id, ss := range s.sessions {
			if subtle.ConstantTimeCompare([]byte(ss.token), []byte(tok)) == 1 {
				ss.lastUsed = s.cfg.Clock.Now()
				s.sessions[id] = ss
				return true
			}
		}
		return false
	}
	user, pass, ok := r.BasicAuth()
	return ok && s.validLogin(user, pass)
}

// validLogin compares byte for byte: a password full of shell
// metacharacters is just bytes here.
func (s *Sim) validLogin(user, pass string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.User))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.Password))
	return u&p == 1
}

func sessionService() any {
	return map[string]any{
		"@odata.id":      "/redfish/v1/SessionService",
		"@odata.type":    "#SessionService.v1_1_2.SessionService",
		"Id":             "SessionService",
		"Name":           "Session Service",
		"ServiceEnabled": true,
		"SessionTimeout": 1800,
		"Sessions":       odataID(SessionsPath),
	}
}

func (s *Sim) sessionCollection() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.sessions))
	for id := range s.sessions {
		ids = append(ids, SessionsPath+"/"+id)
	}
	sort.Strings(ids)
	return collection(SessionsPath, "Session", ids...)
}

func sessionBody(ss session) map[string]any {
	return map[string]any{
		"@odata.id":   SessionsPath + "/" + ss.id,
		"@odata.type": "#Session.v1_0_2.Session",
		"Id":          ss.id,
		"Name":        "User Session",
		"UserName":    ss.user,
	}
}

// postSession logs in. iDRAC7/8 allow a handful of Redfish sessions; past
// the limit the answer is 503 RAC0218 until one logs out or times out.
func (s *Sim) postSession(w http.ResponseWriter, r *http.Request) {
	var login struct {
		UserName string `json:"UserName"`
		Password string `json:"Password"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&login); err != nil {
		writeError(w, http.StatusBadRequest, msgMalformed)
		return
	}
	if !s.validLogin(login.UserName, login.Password) {
		writeError(w, http.StatusUnauthorized, msgBadLogin)
		return
	}
	s.mu.Lock()
	s.expireSessions()
	if len(s.sessions) >= s.cfg.MaxSessions {
		s.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, msgSessionLimit)
		return
	}
	s.nextSess++
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	ss := session{id: strconv.Itoa(s.nextSess), token: hex.EncodeToString(tok), user: login.UserName, lastUsed: s.cfg.Clock.Now()}
	s.sessions[ss.id] = ss
	s.mu.Unlock()
	w.Header().Set("Location", SessionsPath+"/"+ss.id)
	w.Header().Set("X-Auth-Token", ss.token)
	writeJSON(w, http.StatusCreated, sessionBody(ss))
}

func (s *Sim) getSession(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ss, ok := s.sessions[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, msgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, sessionBody(ss))
}

func (s *Sim) deleteSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	_, ok := s.sessions[id]
	delete(s.sessions, id)
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, msgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, successBody())
}

// String describes the simulator without its credentials.
func (s *Sim) String() string { return fmt.Sprintf("idracsim %s", s.cfg.Node) }
