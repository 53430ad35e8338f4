// Package ens is the project's client for the ENS (Edge Node Service, API
// version 2017-11-10) edge-Kubernetes node pool APIs.
//
// The module proxy serves ens-20171110/v4 v4.0.10, which predates the cluster
// APIs, so every call goes through the v4 client's embedded
// darabonba-openapi Client.CallApi with the exact Params of the current
// generated SDK: RPC style, POST /, every parameter in the URL query, nested
// objects as JSON "shrink" strings (NodepoolInfo, ScalingGroup,
// KubernetesConfig, and Body for ScaleClusterNodePool).
//
// # Timeouts, retries and rate limits
//
// darabonba-openapi v2.1.14 sets no timeouts by default, multiplies
// ConnectTimeout by a second and sleeps retry delays in seconds that were
// computed in milliseconds. The client therefore brings its own HTTP client
// (connect timeout on the dialer, read timeout as the whole-request timeout,
// the call's context attached to every request), never enables the SDK's
// retry, and retries itself: Throttling, Throttling.User, Throttling.Api,
// ServiceUnavailable, 5xx and transport errors are retried with capped
// exponential backoff and jitter within the context deadline, honouring the
// TimeLeft of x-ratelimit headers. Other API errors are permanent and come
// back as *APIError carrying the API's Code, Message and RequestId.
//
// A client-side limiter per action class (write: create, scale, delete,
// modify at 10/s; describe at 100/s by default) keeps calls within the
// documented per-account limits. Clients derived with WithCredentials share
// the limiters, so per-invocation STS credentials do not multiply the rate.
//
// A timed-out CreateClusterNodePool may have been executed by the server;
// the retry can then create a second pool with the same name. Callers that
// must not create duplicates check DescribeClusterNodePools before creating.
package ens
