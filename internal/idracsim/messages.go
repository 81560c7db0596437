package idracsim

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// dellMessage is one entry of @Message.ExtendedInfo as an iDRAC writes it.
type dellMessage struct {
	MessageID  string
	Message    string
	Resolution string
	Severity   string
	Args       []string
	Related    []string
}

var (
	msgAlreadyOn = &dellMessage{MessageID: "IDRAC.2.8.PSU501", Message: "Server is already powered ON.",
		Resolution: "No response action is required.", Severity: "Informational"}
	msgAlreadyOff = &dellMessage{MessageID: "IDRAC.2.8.PSU502", Message: "Server is already powered OFF.",
		Resolution: "No response action is required.", Severity: "Informational"}
	msgBadLogin = &dellMessage{MessageID: "IDRAC.2.8.SYS415",
		Message:    "Unable to complete the operation because an invalid username and/or password is entered, and therefore authentication failed.",
		Resolution: "Enter valid user name and password and retry the operation.", Severity: "Warning"}
	msgSessionLimit = &dellMessage{MessageID: "IDRAC.2.8.RAC0218", Message: "The maximum number of user sessions is reached.",
		Resolution: "Close one or more sessions and retry the operation.", Severity: "Critical"}
	msgNotReady = &dellMessage{MessageID: "IDRAC.2.8.SWC0700", Message: "The iDRAC is not ready. The configuration values cannot be accessed.",
		Resolution: "Wait for a few minutes and retry the operation.", Severity: "Critical"}
	msgInternal = &dellMessage{MessageID: "Base.1.8.InternalError",
		Message:    "The request failed due to an internal service error.  The service is still operational.",
		Resolution: "Resubmit the request.  If the problem persists, consider resetting the service.", Severity: "Critical"}
	msgPendingJob = &dellMessage{MessageID: "IDRAC.2.8.LC068",
		Message:    "Unable to apply the configuration changes because a pending configuration job exists.",
		Resolution: "Wait for the scheduled job to complete or delete the configuration job before attempting more configuration operations.",
		Severity:   "Warning"}
	msgNotFound = &dellMessage{MessageID: "Base.1.8.ResourceMissingAtURI", Message: "The resource at the URI is not found.",
		Resolution: "Place a valid resource at the URI or correct the URI and resubmit the request.", Severity: "Critical"}
	msgMethod = &dellMessage{MessageID: "Base.1.8.OperationNotAllowed", Message: "The operation is not allowed on this resource.",
		Resolution: "Do not perform this operation on this resource.", Severity: "Critical"}
	msgPrecondition = &dellMessage{MessageID: "Base.1.8.PreconditionFailed", Message: "The ETag supplied did not match the ETag required to change this resource.",
		Resolution: "Try the operation again using the appropriate ETag.", Severity: "Critical"}
	msgMalformed = &dellMessage{MessageID: "Base.1.8.MalformedJSON", Message: "The request body submitted was malformed JSON and could not be parsed by the receiving service.",
		Resolution: "Ensure that the request body is valid JSON and resubmit the request.", Severity: "Critical"}
)

func msgValueNotInList(prop, value string) *dellMessage {
	return &dellMessage{MessageID: "Base.1.8.PropertyValueNotInList",
		Message:    fmt.Sprintf("The value %s for the property %s is not in the list of acceptable values.", value, prop),
		Resolution: "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.",
		Severity:   "Warning", Args: []string{value, prop}, Related: []string{"#/" + prop}}
}

// writeError answers with an iDRAC-shaped Redfish error.
func writeError(w http.ResponseWriter, status int, m *dellMessage) {
	args := m.Args
	if args == nil {
		args = []string{}
	}
	related := m.Related
	if related == nil {
		related = []string{}
	}
	body := map[string]any{"error": map[string]any{
		"code":    "Base.1.8.GeneralError",
		"message": "A general error has occurred. See ExtendedInfo for more information",
		"@Message.ExtendedInfo": []map[string]any{{
			"Message":                       m.Message,
			"MessageArgs":                   args,
			"MessageArgs@odata.count":       len(args),
			"MessageId":                     m.MessageID,
			"RelatedProperties":             related,
			"RelatedProperties@odata.count": len(related),
			"Resolution":                    m.Resolution,
			"Severity":                      m.Severity,
		}},
	}}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="RedfishService"`)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;charset=utf-8")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}
