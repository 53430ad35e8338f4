// Package fcadapter adapts Function Compute 3.0 (FC3) go1 invocations to
// plain Go code, so that business logic never sees FC types.
//
// It runs inside the function binaries, next to fc.Start from
// github.com/aliyun/fc-runtime-go-sdk:
//
//   - [HTTPHandler] serves an [net/http.Handler] behind an FC3 HTTP trigger
//     (the event shape of https://help.aliyun.com/zh/functioncompute/fc-3-0/user-guide/http-trigger-invoking-function).
//   - [Decode] and [Decoder] turn an EventBridge MNS trigger payload (one
//     CloudEvent, an array of CloudEvents, an array of JSON strings, or RawData
//     elements) into [QueueMessage] values, reporting undecodable elements
//     one by one instead of dropping them.
//   - [DecodeTimer] reads a timer trigger event.
//   - [WithInvocation], [FromContext], [CredentialsFrom] and [Budget] read the
//     invocation metadata without the nil dereference that
//     fccontext.FromContext has on contexts it did not create.
//   - [NewLogHandler] is a slog JSON handler that adds the FC request id and
//     function name to every record.
package fcadapter
