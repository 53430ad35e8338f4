package otssim

import (
	"fmt"
	"net/http"
)

// Error codes the service answers with. Statuses follow the mapping of the
// official C++ SDK (aliyun/aliyun-tablestore-cpp-sdk
// src/tablestore/core/error.cpp) and the error code list
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/error-codes).
const (
	CodeAuthFailed              = "OTSAuthFailed"
	CodeParameterInvalid        = "OTSParameterInvalid"
	CodeObjectNotExist          = "OTSObjectNotExist"
	CodeObjectAlreadyExist      = "OTSObjectAlreadyExist"
	CodeConditionCheckFail      = "OTSConditionCheckFail"
	CodeMethodNotAllowed        = "OTSMethodNotAllowed"
	CodeRequestBodyTooLarge     = "OTSRequestBodyTooLarge"
	CodeOutOfColumnCountLimit   = "OTSOutOfColumnCountLimit"
	CodeQuotaExhausted          = "OTSQuotaExhausted"
	CodeInternalServerError     = "OTSInternalServerError"
	CodeServerBusy              = "OTSServerBusy"
	CodeNotEnoughCapacityUnit   = "OTSNotEnoughCapacityUnit"
	CodeUnsupportOperation      = "OTSUnsupportOperation"
	CodeServerUnavailable       = "OTSServerUnavailable"
	CodePartitionUnavailable    = "OTSPartitionUnavailable"
	CodeTimeout                 = "OTSTimeout"
	CodeRowOperationConflict    = "OTSRowOperationConflict"
	CodeCapacityUnitExhausted   = "OTSCapacityUnitExhausted"
	CodeTableNotReady           = "OTSTableNotReady"
	CodeRequestTimeout          = "OTSRequestTimeout"
	CodeNoPermissionAccess      = "OTSNoPermissionAccess"
	CodeInvalidPK               = "OTSInvalidPK"
	CodeOutOfRowSizeLimit       = "OTSOutOfRowSizeLimit"
	CodeStorageServerBusy       = "OTSStorageServerBusy"
	CodeTooFrequentThroughputOp = "OTSTooFrequentReservedThroughputAdjustment"
)

// codeStatus is the HTTP status of each known code. OTSNotEnoughCapacityUnit
// is missing from the C++ SDK's table; 403 is assumed, as for the other
// capacity errors.
var codeStatus = map[string]int{
	CodeParameterInvalid:        http.StatusBadRequest,
	CodeInvalidPK:               http.StatusBadRequest,
	CodeOutOfColumnCountLimit:   http.StatusBadRequest,
	CodeOutOfRowSizeLimit:       http.StatusBadRequest,
	CodeUnsupportOperation:      http.StatusBadRequest,
	CodeAuthFailed:              http.StatusForbidden,
	CodeNoPermissionAccess:      http.StatusForbidden,
	CodeConditionCheckFail:      http.StatusForbidden,
	CodeQuotaExhausted:          http.StatusForbidden,
	CodeCapacityUnitExhausted:   http.StatusForbidden,
	CodeNotEnoughCapacityUnit:   http.StatusForbidden,
	CodeTooFrequentThroughputOp: http.StatusForbidden,
	CodeObjectNotExist:          http.StatusNotFound,
	CodeTableNotReady:           http.StatusNotFound,
	CodeMethodNotAllowed:        http.StatusMethodNotAllowed,
	CodeRequestTimeout:          http.StatusRequestTimeout,
	CodeObjectAlreadyExist:      http.StatusConflict,
	CodeRowOperationConflict:    http.StatusConflict,
	CodeRequestBodyTooLarge:     http.StatusRequestEntityTooLarge,
	CodeInternalServerError:     http.StatusInternalServerError,
	CodeServerBusy:              http.StatusServiceUnavailable,
	CodeStorageServerBusy:       http.StatusServiceUnavailable,
	CodeTimeout:                 http.StatusServiceUnavailable,
	CodeServerUnavailable:       http.StatusServiceUnavailable,
	CodePartitionUnavailable:    http.StatusServiceUnavailable,
}

// StatusOf is the HTTP status the service answers a code with (400 for an
// unknown code).
func StatusOf(code string) int {
	if s, ok := codeStatus[code]; ok {
		return s
	}
	return http.StatusBadRequest
}

// apiError is an error answer: HTTP status and the Error message's code
// and message.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newErr(code, format string, args ...any) *apiError {
	return &apiError{status: StatusOf(code), code: code, message: fmt.Sprintf(format, args...)}
}

func errParam(format string, args ...any) *apiError {
	return newErr(CodeParameterInvalid, format, args...)
}

func errNoTable() *apiError {
	return newErr(CodeObjectNotExist, "Requested table does not exist.")
}

func errCondition() *apiError {
	return newErr(CodeConditionCheckFail, "Condition check failed.")
}

var errInternal = newErr(CodeInternalServerError, "Internal server error.")
