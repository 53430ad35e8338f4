// Package chatops is the ChatOps front door of the webhook: Slack slash
// commands, DingTalk outgoing robots and Feishu/Lark event subscriptions
// type `nodepool create|status|help …` and get an acknowledgement carrying
// the RequestId within the platform's deadline, then the results
// (creating, active, failed, timeout) in the same conversation.
//
// Inbound, each platform has a Verifier for its documented signature
// scheme, as the platforms document it:
//
//	Slack     X-Slack-Signature v0=hex(HMAC-SHA256(secret, "v0:"+ts+":"+body)), ±5 min
//	          https://api.slack.com/authentication/verifying-requests-from-slack
//	DingTalk  headers timestamp (ms) and sign = base64(HMAC-SHA256(appSecret, ts+"\n"+appSecret)), ±1 h
//	          https://open.dingtalk.com/document/orgapp/receive-message
//	Feishu    X-Lark-Signature = hex(sha256(ts+nonce+encryptKey+body)) and the Verification
//	          Token in the body; {"encrypt": …} bodies are AES-256-CBC with key sha256(encryptKey)
//	          https://open.feishu.cn/document/ukTMukTMukTM/uYDNxYjL2QTM24iN0EjN/event-subscription-configure-/encrypt-key-encryption-configuration-case
//
// A command becomes a nodepool.Request built from a named preset (a
// ScalingGroup/KubernetesConfig template) plus the options typed, and is
// checked by the same nodepool.Validator as the JSON API; failures are
// answered as chat text naming the option and the field.
//
// Outbound, the results travel as callbacks whose nodepool.Callback.Format
// names the platform; chatreply.Renderers returns the callback.Renderer of each
// platform (Slack response_url, DingTalk sessionWebhook, Feishu
// im/v1 message reply with a tenant access token), each restricted to the
// platform's host names. The callback Sender's SSRF guard stays on.
package chatops
