// Package nodepool is the domain of the service: the node-pool request as
// the ENS API names it, its validation rules, the versioned envelope that
// carries it on the requests queue, password sealing and the RequestId.
//
// # Decoding
//
// Decode is strict: exactly one JSON object of valid UTF-8, member names
// matched case-sensitively, no unknown or duplicate members, no trailing
// data, values of the declared JSON type, integers in int32 range. A null
// member counts as absent; a null array element is an error. Errors name the
// JSON path where decoding stopped.
//
// # Rules
//
// Validator applies the rules through go-playground/validator/v10 struct
// tags on Request and registered custom validators. Sources are ENS
// CreateClusterNodePool and DescribeClusterNodePools docs and SDK models
// (https://www.alibabacloud.com/help/en/ens/developer-reference/api-ens-2017-11-10-createclusternodepool);
// where ENS documents no limit, the project picks one (marked "project").
// A parameter the document marks optional is optional here: left out, it
// is not sent and ENS applies its default.
//
//   - ClusterId ^eck-[a-z0-9]+$, ImageId ^m-[a-z0-9]+$, VswitchIds items
//     ^vsw-[a-z0-9]+$, each ≤ 64 characters (SDK examples; charset project).
//   - NodepoolInfo.Name ^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$ (project: fits a
//     Kubernetes label value and a DNS label).
//   - DesiredSize optional; when given 1..100 (project;
//     ValidationConfig.MaxDesiredSize). A stated 0 is refused by Decode.
//   - VswitchIds and InstanceTypes: 1..10 distinct items (count project);
//     InstanceTypes items ^ens\.[a-z0-9-]+\.[a-z0-9-]+$ (e.g. ens.sn1.small).
//   - InstanceChargeType PostPaid|PrePaid; disk categories cloud_efficiency,
//     cloud_ssd, local_hdd, local_ssd (ENS docs).
//   - Disk sizes ≥ 20 GiB and a multiple of 10 (ENS docs); at most 2048
//     (system) and 32768 (data) GiB, ≤ 16 data disks (project).
//   - Exactly one of KeyPairName and Password (ENS docs). Password: 8–30
//     printable ASCII (ENS instance rule; its character classes are left
//     to ENS, see ValidPassword). KeyPairName: ECS key pair name rule.
//   - PreUserData, UserData: standard padded base64 decoding to ≤ 16 KiB
//     (ENS instance UserData limit).
//   - Callback.Url: the callback sender's own rule (callbackurl.Rule):
//     absolute https URL with a host, no user info, no fragment, a port in
//     1–65535, ≤ 2048 characters, not a refused IP literal; http only with
//     ValidationConfig.AllowHTTPCallback (local stack).
//
// Failures come back as *ValidationError listing every failing field by
// JSON path ("ScalingGroup.DataDisks[1].Size") with a message that never
// echoes the value.
//
// # Envelope
//
// Envelope (Version 1) is the public queue contract, documented by the JSON
// Schema returned by Schema (envelope.schema.json). Passwords travel only
// sealed (Sealer: AES-256-GCM, "v1.<kid>.<base64url(nonce|ciphertext)>",
// several keys for rotation). An envelope made for a caller (CALLERS)
// travels signed by one of that caller's secrets: SignedEnvelope (Version
// 2, SignedSchema), which the worker verifies before reading anything else.
package nodepool
