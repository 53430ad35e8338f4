#!/usr/bin/env bash
# Creates, updates or removes the functions' RAM roles with the Alibaba Cloud
# CLI (aliyun, https://www.alibabacloud.com/help/en/cli/), one role per
# function, each trusted by Function Compute only (fc-trust-policy.json) and
# holding only its function's policy (<function>-policy.json, checked
# against the code by TestRAMPolicy in faults/static_test.go):
#
#   deploy/ram.sh create    # roles ens-nodepool-{webhook,worker,poller} with their policies
#   deploy/ram.sh update    # new default policy versions after a policy file changed
#   deploy/ram.sh delete    # detach and delete the policies, delete the roles
#
# The caller needs RAM permissions (e.g. AliyunRAMFullAccess). s.yaml uses
# acs:ram::<account-id>:role/ens-nodepool-<function>.
set -euo pipefail
cd "$(dirname "$0")/ram"
aliyun=${ALIYUN_CLI:-aliyun}
functions=(webhook worker poller)

case "${1:-}" in
create)
	for f in "${functions[@]}"; do
		name="ens-nodepool-$f"
		"$aliyun" ram CreateRole --RoleName "$name" --Description "ENS Node Pool Webhook: the $f function" \
			--AssumeRolePolicyDocument "$(cat fc-trust-policy.json)"
		"$aliyun" ram CreatePolicy --PolicyName "$name" --Description "ENS Node Pool Webhook: what the $f function calls" \
			--PolicyDocument "$(cat "$f-policy.json")"
		"$aliyun" ram AttachPolicyToRole --PolicyType Custom --PolicyName "$name" --RoleName "$name"
	done
	;;
update)
	# One version per policy: the new one becomes the default, the old
	# default is deleted (so delete below never meets extra versions).
	for f in "${functions[@]}"; do
		name="ens-nodepool-$f"
		old=$("$aliyun" ram GetPolicy --PolicyType Custom --PolicyName "$name" |
			sed -n 's/.*"DefaultVersion": *"\([^"]*\)".*/\1/p' | head -n 1)
		"$aliyun" ram CreatePolicyVersion --PolicyName "$name" --PolicyDocument "$(cat "$f-policy.json")" --SetAsDefault true
		if [ -n "$old" ]; then
			"$aliyun" ram DeletePolicyVersion --PolicyName "$name" --VersionId "$old"
		fi
	done
	;;
delete)
	for f in "${functions[@]}"; do
		name="ens-nodepool-$f"
		"$aliyun" ram DetachPolicyFromRole --PolicyType Custom --PolicyName "$name" --RoleName "$name"
		"$aliyun" ram DeletePolicy --PolicyName "$name"
		"$aliyun" ram DeleteRole --RoleName "$name"
	done
	;;
*)
	echo "usage: deploy/ram.sh create|update|delete" >&2
	exit 2
	;;
esac
