package bmc

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/stmcginnis/gofish/schemas"
)

// Errors callers test with errors.Is.
var (
	// ErrAuth: the iDRAC refused the credentials.
	ErrAuth = errors.New("iDRAC refused the credentials")
	// ErrCertMismatch: the iDRAC's certificate is not the pinned one.
	ErrCertMismatch = errors.New("iDRAC certificate does not match the pinned fingerprint")
	// ErrNoTrust: there is no pin, no CA and no --insecure.
	ErrNoTrust = errors.New("no way to verify the iDRAC certificate")
	// ErrNotAllowed: the system does not offer a ResetType the action needs.
	ErrNotAllowed = errors.New("not allowed by this system")
	// ErrTimeout: the system did not reach the wanted state in time.
	ErrTimeout = errors.New("timed out waiting for the system")
)

// CertMismatchError says which certificate was found instead of the pinned
// one.
type CertMismatchError struct {
	Pinned, Got string
}

func (e *CertMismatchError) Error() string {
	return fmt.Sprintf("iDRAC certificate sha256 %s does not match the pinned %s (if the iDRAC's certificate was replaced on purpose, run 'provision bmc trust --replace')", e.Got, e.Pinned)
}

// Is makes errors.Is(err, ErrCertMismatch) true.
func (e *CertMismatchError) Is(target error) bool { return target == ErrCertMismatch }

// redfishError returns the Redfish error inside err, if any.
func redfishError(err error) *schemas.Error {
	var re *schemas.Error
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// statusOf returns the HTTP status of a Redfish error, or 0.
func statusOf(err error) int {
	if re := redfishError(err); re != nil {
		return re.HTTPReturnedStatusCode
	}
	return 0
}

// hasMessageID reports whether a Redfish error carries a Dell message id
// ending in id (IDRAC.2.8.PSU501 matches "PSU501").
func hasMessageID(err error, id string) bool {
	re := redfishError(err)
	if re == nil {
		return false
	}
	for _, m := range re.ExtendedInfos {
		if strings.HasSuffix(m.MessageID, "."+id) || m.MessageID == id {
			return true
		}
	}
	return strings.Contains(re.Message, id)
}

// describe turns a Redfish error into one line a person can act on:
// status, Dell message id and message. The credentials never appear in a
// Redfish error: iDRACs do not echo them.
func describe(err error) error {
	re := redfishError(err)
	if re == nil {
		return err
	}
	if re.HTTPReturnedStatusCode == http.StatusUnauthorized || re.HTTPReturnedStatusCode == http.StatusForbidden {
		return fmt.Errorf("%w (HTTP %d): check the user and password", ErrAuth, re.HTTPReturnedStatusCode)
	}
	var parts []string
	for _, m := range re.ExtendedInfos {
		parts = append(parts, strings.TrimSpace(m.MessageID+" "+m.Message))
	}
	msg := strings.Join(parts, "; ")
	if msg == "" {
		msg = re.Message
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
	}
	return &httpError{status: re.HTTPReturnedStatusCode, msg: msg, err: err}
}

// httpError is a Redfish error answer, shortened to its messages.
type httpError struct {
	status int
	msg    string
	err    error
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.msg) }
func (e *httpError) Unwrap() error { return e.err }
