package kv

import (
	"fmt"
)

// v2 error codes. The numbers are the wire contract of the etcd v2 API; the
// reserved ones are listed so the HTTP layer and clients can name them.
const (
	EcodeKeyNotFound      = 100
	EcodeTestFailed       = 101
	EcodeNotFile          = 102
	EcodeNotDir           = 104
	EcodeNodeExist        = 105
	EcodeKeyIsPreserved   = 106
	EcodeRootROnly        = 107
	EcodeDirNotEmpty      = 108
	EcodeUnauthorized     = 110
	EcodeValueRequired    = 200
	EcodePrevValueReq     = 201
	EcodeTTLNaN           = 202
	EcodeIndexNaN         = 203
	EcodeInvalidField     = 209
	EcodeInvalidForm      = 210
	EcodeRefreshValue     = 211
	EcodeRefreshTTLReq    = 212
	EcodeRaftInternal     = 300
	EcodeLeaderElect      = 301
	EcodeWatcherCleared   = 400
	EcodeEventIndexClear  = 401
	EcodeClientInternal   = 500
	EcodeIndexOrValueReq  = 207
	EcodeIndexValueMutex  = 208
	EcodeValueOrTTLReq    = 204
	EcodeTimeoutNaN       = 205
	EcodeNameRequired     = 206
	EcodeMaxPeersReached  = 103
	EcodePeerAddrExists   = 109
	EcodeStandbyInternal  = 402
	EcodeInvalidActiveSz  = 403
	EcodeInvalidRemoveDly = 404
)

// errorMessages are the v2 "message" strings; clients match on the code, the
// text is for humans.
var errorMessages = map[int]string{
	EcodeKeyNotFound:      "Key not found",
	EcodeTestFailed:       "Compare failed",
	EcodeNotFile:          "Not a file",
	EcodeMaxPeersReached:  "Reached the max number of peers in the cluster",
	EcodeNotDir:           "Not a directory",
	EcodeNodeExist:        "Key already exists",
	EcodeKeyIsPreserved:   "The prefix of given key is a keyword in etcd",
	EcodeRootROnly:        "Root is read only",
	EcodeDirNotEmpty:      "Directory not empty",
	EcodePeerAddrExists:   "Peer address has existed",
	EcodeUnauthorized:     "The request requires user authentication",
	EcodeValueRequired:    "Value is Required in POST form",
	EcodePrevValueReq:     "PrevValue is Required in POST form",
	EcodeTTLNaN:           "The given TTL in POST form is not a number",
	EcodeIndexNaN:         "The given index in POST form is not a number",
	EcodeValueOrTTLReq:    "Value or TTL is required in POST form",
	EcodeTimeoutNaN:       "The given timeout in POST form is not a number",
	EcodeNameRequired:     "Name is required in POST form",
	EcodeIndexOrValueReq:  "Index or value is required",
	EcodeIndexValueMutex:  "Index and value cannot both be specified",
	EcodeInvalidField:     "Invalid field",
	EcodeInvalidForm:      "Invalid POST form",
	EcodeRefreshValue:     "Value provided on refresh",
	EcodeRefreshTTLReq:    "A TTL must be provided on refresh",
	EcodeRaftInternal:     "Raft Internal Error",
	EcodeLeaderElect:      "During Leader Election",
	EcodeWatcherCleared:   "watcher is cleared due to etcd recovery",
	EcodeEventIndexClear:  "The event in requested index is outdated and cleared",
	EcodeStandbyInternal:  "Standby Internal Error",
	EcodeInvalidActiveSz:  "Invalid active size",
	EcodeInvalidRemoveDly: "Standby remove delay",
	EcodeClientInternal:   "Client Internal Error",
}

// Error is a v2 API error. Its JSON is exactly the v2 error body; the HTTP
// layer writes it with the status from StatusCode and sets X-Etcd-Index to
// Index.
type Error struct {
	Code    int    `json:"errorCode"`
	Message string `json:"message"`
	Cause   string `json:"cause,omitempty"`
	// Index is the store index when the error happened (0 for errors raised
	// while parsing a request, before the store was consulted).
	Index uint64 `json:"index"`
}

// NewError returns the v2 error with the given code, its standard message,
// cause and store index. The HTTP layer uses it for request-parsing errors
// (201, 202, 203, 209, 210) with index 0 and for 300 with the internal error
// text as cause.
func NewError(code int, cause string, index uint64) *Error {
	return &Error{Code: code, Message: errorMessages[code], Cause: cause, Index: index}
}

func (e *Error) Error() string {
	if e.Cause == "" {
		return fmt.Sprintf("%d: %s (%d)", e.Code, e.Message, e.Index)
	}
	return fmt.Sprintf("%d: %s (%s) [%d]", e.Code, e.Message, e.Cause, e.Index)
}

// StatusCode is the HTTP status the v2 API answers this error with. The
// numbers are written out so that the key space, which the simulator and
// its WebAssembly build run, does not import net/http for six constants.
func (e *Error) StatusCode() int {
	switch e.Code {
	case EcodeKeyNotFound:
		return 404 // Not Found
	case EcodeTestFailed, EcodeNodeExist:
		return 412 // Precondition Failed
	case EcodeNotFile, EcodeDirNotEmpty:
		return 403 // Forbidden
	case EcodeUnauthorized:
		return 401 // Unauthorized
	case EcodeRaftInternal, EcodeLeaderElect:
		return 500 // Internal Server Error
	default:
		return 400 // Bad Request
	}
}
