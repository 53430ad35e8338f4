package localstack

// Development values scripts/local falls back to (and prints) when the
// environment has none. They are public: never use them outside a local
// stack.
const (
	// DevWebhookSecret signs requests to the local webhook.
	DevWebhookSecret = "whsec_ZW5zLW5vZGVwb29sLXdlYmhvb2stZGV2LWluYm91bmQ="
	// DevCallbackSecret signs the local stack's callbacks.
	DevCallbackSecret = "whsec_ZW5zLW5vZGVwb29sLXdlYmhvb2stZGV2LW91dGJuZCE="
	// DevAccessKeyID and DevAccessKeySecret are the key pair the local
	// simulators accept.
	DevAccessKeyID     = "LTAI5tDevLocalStack"
	DevAccessKeySecret = "dev-localstack-secret"
	// DevSealKeys seals passwords in the local queues.
	DevSealKeys = "dev1:ZW5zLW5vZGVwb29sLXdlYmhvb2stZGV2LXNlYWxrZXk="
)
