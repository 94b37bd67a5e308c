package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error codes of the v2 API: the errorCode field of an error body. The
// numbers are the wire contract shared with etcd v2; the messages are the
// server's.
const (
	ErrorCodeKeyNotFound        = 100 // a path component is missing (HTTP 404)
	ErrorCodeTestFailed         = 101 // prevValue or prevIndex did not match (HTTP 412)
	ErrorCodeNotFile            = 102 // a file-only operation on a directory (HTTP 403)
	ErrorCodeNotDir             = 104 // a file where a directory was needed
	ErrorCodeNodeExist          = 105 // prevExist=false on an existing node (HTTP 412)
	ErrorCodeRootROnly          = 107 // a write or delete of "/"
	ErrorCodeDirNotEmpty        = 108 // deleting a non-empty directory without recursive (HTTP 403)
	ErrorCodeUnauthorized       = 110 // v2 auth refused the request (HTTP 401)
	ErrorCodePrevValueRequired  = 201 // prevValue present but empty
	ErrorCodeTTLNaN             = 202 // a bad ttl
	ErrorCodeIndexNaN           = 203 // a bad prevIndex or waitIndex
	ErrorCodeInvalidField       = 209 // a bad boolean, or wait on a method other than GET
	ErrorCodeInvalidForm        = 210 // the form could not be parsed
	ErrorCodeRefreshValue       = 211 // refresh with a value
	ErrorCodeRefreshTTLRequired = 212 // refresh without a ttl
	ErrorCodeRaftInternal       = 300 // no leader, timeout, stopped member (HTTP 500); for a write the outcome is unknown
	ErrorCodeLeaderElect        = 301 // during leader election (reserved)
	ErrorCodeWatcherCleared     = 400 // the server dropped a watcher (slow consumer, recovery)
	ErrorCodeEventIndexCleared  = 401 // waitIndex is older than the event history (HTTP 400)
)

// Error is an error answered by the keys API: the v2 error body, decoded.
// Its JSON is that body (cause and index always written, as etcd's client
// does), so a program can pass it on unchanged.
type Error struct {
	Code    int    `json:"errorCode"`
	Message string `json:"message"`
	Cause   string `json:"cause"`
	// Index is the store index when the error happened (0 for errors found
	// while parsing the request).
	Index uint64 `json:"index"`
}

// Error formats e as etcdctl prints it: "100: Key not found (/foo) [38]".
func (e *Error) Error() string {
	return fmt.Sprintf("%d: %s (%s) [%d]", e.Code, e.Message, e.Cause, e.Index)
}

// Is makes errors.Is(err, ErrKeyNotFound) and the other sentinels below
// match any *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for the v2 error codes a program most often branches on. Compare
// with errors.Is, which matches on Code alone:
//
//	if errors.Is(err, client.ErrKeyNotFound) { ... }
var (
	ErrKeyNotFound       = &Error{Code: ErrorCodeKeyNotFound, Message: "Key not found"}
	ErrCompareFailed     = &Error{Code: ErrorCodeTestFailed, Message: "Compare failed"}
	ErrNotFile           = &Error{Code: ErrorCodeNotFile, Message: "Not a file"}
	ErrNotDir            = &Error{Code: ErrorCodeNotDir, Message: "Not a directory"}
	ErrNodeExist         = &Error{Code: ErrorCodeNodeExist, Message: "Key already exists"}
	ErrDirNotEmpty       = &Error{Code: ErrorCodeDirNotEmpty, Message: "Directory not empty"}
	ErrUnauthorized      = &Error{Code: ErrorCodeUnauthorized, Message: "The request requires user authentication"}
	ErrRaftInternal      = &Error{Code: ErrorCodeRaftInternal, Message: "Raft Internal Error"}
	ErrEventIndexCleared = &Error{Code: ErrorCodeEventIndexCleared, Message: "The event in requested index is outdated and cleared"}
)

// IsUnauthorized reports whether err is a refusal for lack of credentials
// or permission: v2 error 110 from the keys API, or a 401 from another
// endpoint (the auth API, members). errors.Is(err, ErrUnauthorized) is the
// same test.
func IsUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }

// IsKeyNotFound reports whether err is a v2 error 100 (Key not found).
func IsKeyNotFound(err error) bool { return errors.Is(err, ErrKeyNotFound) }

// IsCompareFailed reports whether err is a v2 error 101: a compare-and-swap
// or compare-and-delete whose prevValue or prevIndex did not match.
func IsCompareFailed(err error) bool { return errors.Is(err, ErrCompareFailed) }

// IsNodeExist reports whether err is a v2 error 105: a create of a key that
// exists.
func IsNodeExist(err error) bool { return errors.Is(err, ErrNodeExist) }

// IsEventIndexCleared reports whether err is a v2 error 401: the watch asked
// for events older than the server's history (the last 1000 events across
// the whole cluster). To recover, Get the key and watch again with
// AfterIndex set to the Get's Response.Index.
func IsEventIndexCleared(err error) bool { return errors.Is(err, ErrEventIndexCleared) }

var (
	// ErrNoEndpoints is returned when the client has no endpoint to try, or
	// when a Sync found no member with a published client URL.
	ErrNoEndpoints = errors.New("client: no endpoints available")

	// ErrClusterUnavailable matches (with errors.Is) every *ClusterError.
	ErrClusterUnavailable = errors.New("client: cluster is unavailable or misconfigured")

	// ErrUnknownOutcome matches (with errors.Is) a write whose connection
	// broke after the request was sent: the member may or may not have
	// applied it. The client never resends such a write to another member,
	// because applying it twice could be wrong (an in-order create, a
	// compare-and-swap). A v2 error 300 on a write means the same.
	ErrUnknownOutcome = errors.New("client: the write may or may not have been applied")

	// ErrTooManyRedirects is returned after 10 redirects.
	ErrTooManyRedirects = errors.New("client: too many redirects")
)

// EndpointError is the failure of one request to one endpoint.
type EndpointError struct {
	Endpoint string
	Err      error
	// Sent is true when the request may have reached the member; for a
	// write that makes the outcome unknown (see ErrUnknownOutcome).
	Sent  bool
	write bool
}

func (e *EndpointError) Error() string {
	s := e.Endpoint + ": " + e.Err.Error()
	if e.Sent && e.write {
		s += " (the write may or may not have been applied)"
	}
	return s
}

func (e *EndpointError) Unwrap() error { return e.Err }

// Is matches ErrUnknownOutcome for a write that may have been applied.
func (e *EndpointError) Is(target error) bool {
	return target == ErrUnknownOutcome && e.Sent && e.write
}

// ClusterError is returned when no endpoint gave an answer: every one
// refused the connection, timed out, or (for reads) answered with a server
// error. Errors holds one entry per attempt, in the order tried.
type ClusterError struct {
	Errors []*EndpointError
}

// Error is one line naming the endpoints tried; Detail has the reasons.
func (e *ClusterError) Error() string {
	var eps []string
	seen := map[string]bool{}
	for _, ee := range e.Errors {
		if !seen[ee.Endpoint] {
			seen[ee.Endpoint] = true
			eps = append(eps, ee.Endpoint)
		}
	}
	return ErrClusterUnavailable.Error() + "; tried " + strings.Join(eps, ", ")
}

// Detail is one line per attempt: "error #0: http://127.0.0.1:2379: dial
// tcp 127.0.0.1:2379: connect: connection refused".
func (e *ClusterError) Detail() string {
	var b strings.Builder
	for i, ee := range e.Errors {
		fmt.Fprintf(&b, "error #%d: %v\n", i, ee)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrClusterUnavailable) true.
func (e *ClusterError) Is(target error) bool { return target == ErrClusterUnavailable }

// Unwrap gives the per-endpoint errors to errors.Is and errors.As.
func (e *ClusterError) Unwrap() []error {
	out := make([]error, len(e.Errors))
	for i, ee := range e.Errors {
		out[i] = ee
	}
	return out
}

// StatusError is an unsuccessful answer from an endpoint outside the keys
// API (members, stats, health), whose error body is {"message": "..."}, or
// a keys answer whose body was not a v2 error.
type StatusError struct {
	StatusCode int    // the HTTP status
	Message    string // the message field, or the body's first line
}

// Sentinels for answers outside the keys API, which carry no v2 error
// code: errors.Is matches any *StatusError with the same StatusCode.
var (
	// ErrNotFound: no such user or role (auth API) or member.
	ErrNotFound = &StatusError{StatusCode: http.StatusNotFound, Message: "not found"}
	// ErrConflict: the user, role or member exists already, a role or a
	// permission was granted twice, or auth is already on.
	ErrConflict = &StatusError{StatusCode: http.StatusConflict, Message: "conflict"}
)

// Is matches ErrNotFound and ErrConflict (any *StatusError with the same
// status), and ErrUnauthorized for a 401.
func (e *StatusError) Is(target error) bool {
	switch t := target.(type) {
	case *StatusError:
		return t.StatusCode == e.StatusCode
	case *Error:
		return t.Code == ErrorCodeUnauthorized && e.StatusCode == http.StatusUnauthorized
	}
	return false
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("client: HTTP %d", e.StatusCode)
	}
	return e.Message
}
