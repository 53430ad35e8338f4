// Package otssim is a Tablestore (OTS)-compatible, durable table service
// for local runs and tests: an http.Handler that speaks the Tablestore
// wide-column API (version 2015-12-31: protobuf messages with PlainBuffer
// rows) closely enough that the official Go and Node.js SDKs
// (github.com/aliyun/aliyun-tablestore-go-sdk, the npm package tablestore)
// work against it unchanged.
//
// It serves CreateTable, ListTable, DescribeTable, UpdateTable,
// DeleteTable, PutRow, GetRow, UpdateRow (put, delete one or all
// versions, atomic increment, RT_AFTER_MODIFY), DeleteRow, BatchGetRow,
// BatchWriteRow and GetRange (both directions, INF_MIN/INF_MAX, limit,
// next_start_primary_key, 5000 rows or 4 MB per page), with row existence
// and column conditions, versions, time to live and auto-increment
// primary keys. Requests must carry the OTS signature of the configured
// AccessKey pair; any instance name is served (case-insensitively), each
// as its own set of tables of one local account. Errors carry the
// service's codes and HTTP statuses (OTSConditionCheckFail 403,
// OTSObjectNotExist 404, …).
//
// Where the service's behaviour is not documented, the simulator chooses:
// a request missing a proto2 required field (such as a batch row's
// condition) fails as a whole with OTSParameterInvalid; BatchGetRow and
// BatchWriteRow fail as a whole on a missing table; filters compare values
// of one type only (mixed types and NaN satisfy only NOT_EQUAL); reads
// always return the whole primary key; a row whose attribute columns were
// all deleted by UpdateRow still exists; x-ots-date may be 15 minutes off
// and its fraction is ignored; deviation_cell_version_in_sec defaults to
// one day; OTSNotEnoughCapacityUnit is answered with 403.
//
// Not served: secondary and search indexes, streams, SQL, time series,
// local transactions and atomic batches, regex filters; the per-table
// UpdateTable frequency limit and table-operation rate limits are not
// enforced.
//
// # Durability
//
// State lives in a bbolt database (Config.Dir/ots.db; with Dir empty, in
// a temporary directory removed by Close). Every change is committed
// before the answer is written. Commits are not fsynced unless
// Config.Fsync is set: a committed write survives a crash or SIGKILL of
// the process, not a power failure.
//
// # Faults
//
// InjectFault, or POST AdminPrefix+"faults", makes the service answer
// errors (OTSServerBusy 503 by default), throttle (OTSNotEnoughCapacityUnit
// beyond a rate), delay, drop connections (before or after applying the
// request) or refuse connections (on the listener from Listen) for a time
// or a number of requests. The admin API (admin.go) also reports counters.
//
// It is a development and test service, not a production store.
package otssim
