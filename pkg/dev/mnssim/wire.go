package mnssim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"
)

// xmlns is the namespace MNS puts on every response body.
const xmlns = "http://mns.aliyuncs.com/doc/v1/"

// apiError is an MNS error response: status plus the <Error> Code and Message.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newErr(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

// Error codes, statuses and messages as listed by MNS (https://www.alibabacloud.com/help/en/mns/error-codes).
var (
	errMessageNotExist   = newErr(http.StatusNotFound, "MessageNotExist", "Message not exist.")
	errQueueNotExist     = newErr(http.StatusNotFound, "QueueNotExist", "The queue name you provided is not exist.")
	errReceiptHandle     = newErr(http.StatusBadRequest, "ReceiptHandleError", "The receipt handle you provide is not valid.")
	errMalformedXML      = newErr(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed.")
	errQueueExists       = newErr(http.StatusConflict, "QueueAlreadyExist", "The queue you want to create already exists with different attributes.")
	errInvalidQueueName  = newErr(http.StatusBadRequest, "InvalidQueueName", "The queue name must start with a letter or digit and contain only letters, digits and '-'.")
	errQueueNameLength   = newErr(http.StatusBadRequest, "QueueNameLengthError", "The length of queue name should be between 1 and 256.")
	errRequestURL        = newErr(http.StatusBadRequest, "InvalidRequestURL", "Http request URL format invalid.")
	errMissingAuth       = newErr(http.StatusBadRequest, "MissingAuthorizationHeader", "Authorization is required.")
	errInvalidAuth       = newErr(http.StatusBadRequest, "InvalidAuthorizationHeader", "The Authorization header format is invalid.")
	errMissingDate       = newErr(http.StatusBadRequest, "MissingDateHeader", "Date is required.")
	errInvalidDate       = newErr(http.StatusBadRequest, "InvalidDateHeader", "The Date header format is invalid.")
	errTimeExpired       = newErr(http.StatusRequestTimeout, "TimeExpired", "The http request you sent is expired.")
	errMissingVersion    = newErr(http.StatusBadRequest, "MissingVersionHeader", "x-mns-version is required.")
	errInvalidAccessKey  = newErr(http.StatusForbidden, "InvalidAccessKeyId", "The AccessKey Id you provided is not exist.")
	errSignature         = newErr(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
	errInvalidDigest     = newErr(http.StatusBadRequest, "InvalidDegist", "The Content-MD5 you specified is invalid.")
	errMissingReceipt    = newErr(http.StatusBadRequest, "MissingReceiptHandle", "ReceiptHandle is required.")
	errMissingVisibility = newErr(http.StatusBadRequest, "MissingVisibilityTimeout", "VisibilityTimeout is required.")
	errInternal          = newErr(http.StatusInternalServerError, "InternalError", "Interal error.")
	errMethod            = newErr(http.StatusMethodNotAllowed, "InvalidRequestURL", "The method is not allowed for this resource.")
)

func invalidArg(msg string) *apiError { return newErr(http.StatusBadRequest, "InvalidArgument", msg) }

// ---- response bodies ----

type errorXML struct {
	XMLName   xml.Name `xml:"Error"`
	Xmlns     string   `xml:"xmlns,attr"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}

type sendResultXML struct {
	XMLName        xml.Name `xml:"Message"`
	Xmlns          string   `xml:"xmlns,attr,omitempty"`
	ErrorCode      string   `xml:"ErrorCode,omitempty"`
	ErrorMessage   string   `xml:"ErrorMessage,omitempty"`
	MessageID      string   `xml:"MessageId,omitempty"`
	MessageBodyMD5 string   `xml:"MessageBodyMD5,omitempty"`
}

type sendResultsXML struct {
	XMLName  xml.Name        `xml:"Messages"`
	Xmlns    string          `xml:"xmlns,attr"`
	Messages []sendResultXML `xml:"Message"`
}

// messageXML is a received or peeked message. Peeks omit ReceiptHandle and NextVisibleTime.
type messageXML struct {
	XMLName          xml.Name `xml:"Message"`
	Xmlns            string   `xml:"xmlns,attr,omitempty"`
	MessageID        string   `xml:"MessageId"`
	ReceiptHandle    string   `xml:"ReceiptHandle,omitempty"`
	MessageBodyMD5   string   `xml:"MessageBodyMD5"`
	MessageBody      string   `xml:"MessageBody"`
	EnqueueTime      int64    `xml:"EnqueueTime"`
	NextVisibleTime  int64    `xml:"NextVisibleTime,omitempty"`
	FirstDequeueTime int64    `xml:"FirstDequeueTime"`
	DequeueCount     int64    `xml:"DequeueCount"`
	Priority         int64    `xml:"Priority"`
}

type messagesXML struct {
	XMLName  xml.Name     `xml:"Messages"`
	Xmlns    string       `xml:"xmlns,attr"`
	Messages []messageXML `xml:"Message"`
}

type deleteErrorXML struct {
	ErrorCode     string `xml:"ErrorCode"`
	ErrorMessage  string `xml:"ErrorMessage"`
	ReceiptHandle string `xml:"ReceiptHandle"`
}

type deleteErrorsXML struct {
	XMLName xml.Name         `xml:"Errors"`
	Xmlns   string           `xml:"xmlns,attr"`
	Errors  []deleteErrorXML `xml:"Error"`
}

type changeVisibilityXML struct {
	XMLName         xml.Name `xml:"ChangeVisibility"`
	Xmlns           string   `xml:"xmlns,attr"`
	ReceiptHandle   string   `xml:"ReceiptHandle"`
	NextVisibleTime int64    `xml:"NextVisibleTime"`
}

type dlqPolicyXML struct {
	Enabled               string `xml:"Enabled"`
	DeadLetterTargetQueue string `xml:"DeadLetterTargetQueue"`
	MaxReceiveCount       int64  `xml:"MaxReceiveCount"`
}

type queueAttrsXML struct {
	XMLName                xml.Name      `xml:"Queue"`
	Xmlns                  string        `xml:"xmlns,attr,omitempty"`
	QueueName              string        `xml:"QueueName"`
	QueueURL               string        `xml:"QueueURL,omitempty"`
	CreateTime             int64         `xml:"CreateTime"`
	LastModifyTime         int64         `xml:"LastModifyTime"`
	DelaySeconds           int64         `xml:"DelaySeconds"`
	MaximumMessageSize     int64         `xml:"MaximumMessageSize"`
	MessageRetentionPeriod int64         `xml:"MessageRetentionPeriod"`
	VisibilityTimeout      int64         `xml:"VisibilityTimeout"`
	PollingWaitSeconds     int64         `xml:"PollingWaitSeconds"`
	ActiveMessages         int64         `xml:"ActiveMessages"`
	InactiveMessages       int64         `xml:"InactiveMessages"`
	DelayMessages          int64         `xml:"DelayMessages"`
	LoggingEnabled         string        `xml:"LoggingEnabled"`
	DlqPolicy              *dlqPolicyXML `xml:"DlqPolicy,omitempty"`
}

type queueURLXML struct {
	QueueURL string `xml:"QueueURL"`
}

type queuesXML struct {
	XMLName    xml.Name      `xml:"Queues"`
	Xmlns      string        `xml:"xmlns,attr"`
	Queues     []queueURLXML `xml:"Queue"`
	NextMarker string        `xml:"NextMarker,omitempty"`
}

type queueDetailsXML struct {
	XMLName    xml.Name        `xml:"Queues"`
	Xmlns      string          `xml:"xmlns,attr"`
	Queues     []queueAttrsXML `xml:"Queue"`
	NextMarker string          `xml:"NextMarker,omitempty"`
}

// ---- request bodies ----

// sendReqXML is one <Message> of SendMessage/BatchSendMessage. Pointers tell absent from zero.
type sendReqXML struct {
	MessageBody  *string `xml:"MessageBody"`
	DelaySeconds *string `xml:"DelaySeconds"`
	Priority     *string `xml:"Priority"`
}

type batchSendReqXML struct {
	XMLName  xml.Name     `xml:"Messages"`
	Messages []sendReqXML `xml:"Message"`
}

type singleSendReqXML struct {
	XMLName xml.Name `xml:"Message"`
	sendReqXML
}

type receiptHandlesXML struct {
	XMLName        xml.Name `xml:"ReceiptHandles"`
	ReceiptHandles []string `xml:"ReceiptHandle"`
}

type queueReqXML struct {
	XMLName                xml.Name      `xml:"Queue"`
	DelaySeconds           *string       `xml:"DelaySeconds"`
	MaximumMessageSize     *string       `xml:"MaximumMessageSize"`
	MessageRetentionPeriod *string       `xml:"MessageRetentionPeriod"`
	VisibilityTimeout      *string       `xml:"VisibilityTimeout"`
	PollingWaitSeconds     *string       `xml:"PollingWaitSeconds"`
	LoggingEnabled         *string       `xml:"LoggingEnabled"`
	DlqPolicy              *dlqPolicyXML `xml:"DlqPolicy"`
}

// rootName returns the local name of the first element of an XML document.
func rootName(body []byte) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", errMalformedXML
			}
			return "", errMalformedXML
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local, nil
		}
	}
}

// decodeSend parses a SendMessage or BatchSendMessage body. batch reports which one it was.
// Namespaces and the XML declaration are ignored, as MNS does.
func decodeSend(body []byte) (msgs []sendReqXML, batch bool, err error) {
	root, err := rootName(body)
	if err != nil {
		return nil, false, err
	}
	switch root {
	case "Message":
		var m singleSendReqXML
		if err := xml.Unmarshal(body, &m); err != nil {
			return nil, false, errMalformedXML
		}
		return []sendReqXML{m.sendReqXML}, false, nil
	case "Messages":
		var b batchSendReqXML
		if err := xml.Unmarshal(body, &b); err != nil {
			return nil, true, errMalformedXML
		}
		if len(b.Messages) == 0 || len(b.Messages) > 16 {
			return nil, true, invalidArg("The count of messages in a batch should be between 1 and 16.")
		}
		return b.Messages, true, nil
	}
	return nil, false, errMalformedXML
}

func decodeReceipts(body []byte) ([]string, error) {
	var r receiptHandlesXML
	if err := xml.Unmarshal(body, &r); err != nil {
		return nil, errMalformedXML
	}
	if len(r.ReceiptHandles) == 0 || len(r.ReceiptHandles) > 16 {
		return nil, invalidArg("The count of receipt handles in a batch should be between 1 and 16.")
	}
	return r.ReceiptHandles, nil
}

func decodeQueue(body []byte) (*queueReqXML, error) {
	var q queueReqXML
	if len(bytes.TrimSpace(body)) == 0 {
		return &q, nil
	}
	if err := xml.Unmarshal(body, &q); err != nil {
		return nil, errMalformedXML
	}
	return &q, nil
}

// parseBool accepts the spellings MNS SDKs send: true/True/1, false/False/0.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		return true, true
	case "false", "0", "":
		return false, true
	}
	return false, false
}

func boolString(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// marshal encodes v with the XML declaration MNS responses carry.
func marshal(v any) []byte {
	var buf bytes.Buffer
	buf.WriteString(xml.Header[:len(xml.Header)-1])
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		panic(err) // only our own fixed types are encoded
	}
	return buf.Bytes()
}
