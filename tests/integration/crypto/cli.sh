#!/bin/sh
# tests/integration/crypto/cli.sh: `bt key` and `bt cred` end to end:
# keys and their file modes, a root -> node -> narrower chain, verification
# for the right and wrong paths, expired and forged credentials, and the
# exit codes 0 (ok), 1 (failure) and 2 (bad usage).
set -eu
: "${BT:?BT must name the bt binary}"
T=$(mktemp -d "${TMPDIR:-/tmp}/bt-crypto-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
cd "$T"

fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

# expect CODE DESCRIPTION -- COMMAND...: run it, keep stdout/stderr in
# out/err, and check its exit status.
expect() {
	want=$1; what=$2; shift 3
	set +e
	"$@" >out 2>err
	got=$?
	set -e
	if [ "$got" -eq "$want" ]; then ok "$what"; else
		bad "$what: exit $got, want $want"; sed 's/^/    /' err; fi
}
# grep_err TEXT DESCRIPTION: the last command's stderr contains TEXT.
grep_err() {
	if grep -q -- "$1" err; then ok "$2"; else
		bad "$2: stderr lacks '$1'"; sed 's/^/    /' err; fi
}

# --- keys -------------------------------------------------------------
expect 0 "key new -o root.key" -- "$BT" key new -o root.key
R=$(tail -n 1 out)
[ ${#R} -eq 43 ] && ok "principal has 43 characters" || bad "principal '$R'"
case $R in *[!A-Za-z0-9_-]*) bad "principal is not base64url" ;; *) ok "principal is base64url" ;; esac
[ "$(stat -c %a root.key)" = 600 ] && ok "key file mode is 0600" || bad "key file mode $(stat -c %a root.key)"
expect 0 "key new -o node.key" -- "$BT" key new -o node.key
N=$(tail -n 1 out)
expect 0 "key new -o user.key" -- "$BT" key new -o user.key
U=$(tail -n 1 out)
expect 0 "key new without -o" -- "$BT" key new
grep_err "not saved" "key new without -o says the key was not saved"
[ "$(wc -l <out)" -eq 1 ] && ok "key new without -o prints only the principal" || bad "key new printed more"
expect 1 "key new refuses to replace a key" -- "$BT" key new -o root.key
expect 0 "key new --force replaces" -- "$BT" key new -o spare.key --force
expect 0 "key show" -- "$BT" key show root.key
grep -q "^principal: $R\$" out && ok "key show prints the principal" || bad "key show: $(cat out)"
grep -q "^algorithm: ed25519\$" out && ok "key show prints the algorithm" || bad "key show alg"
cp root.key open.key
chmod 644 open.key
expect 1 "key show refuses a 0644 private key" -- "$BT" key show open.key
grep_err "permissions 0644 for 'open.key' are too open" "the refusal says why, as ssh does"
chmod 640 open.key
expect 1 "key show refuses a 0640 private key" -- "$BT" key show open.key
expect 1 "key show of a missing file" -- "$BT" key show nothere.key
printf 'not a key\n' >junk.key; chmod 600 junk.key
expect 1 "key show of a malformed file" -- "$BT" key show junk.key
grep_err "junk.key" "the error names the file"

# A NUL byte anywhere in a key file (review finding C1): "alg ed25519\0junk"
# used to be read as "alg ed25519".
{ printf 'bt-key 1\nalg ed25519\000junk\n'; sed -n '3,4p' root.key; } >nul.key
chmod 600 nul.key
expect 1 "key show refuses a key file with a NUL byte" -- "$BT" key show nul.key
grep_err "NUL byte" "the refusal names the NUL byte"
# A private key owned by another user (review finding C3), as ssh refuses.
if [ "$(id -u)" -eq 0 ]; then
	cp root.key theirs.key
	chown 12345 theirs.key
	expect 1 "key show refuses a private key owned by another user" -- "$BT" key show theirs.key
	grep_err "owned by uid 12345" "the refusal names the owner"
else
	echo "skip key owned by another user (needs root)"
fi
# key new without --force never replaces, not even a dangling link.
ln -s nowhere dangling.key
expect 1 "key new refuses to replace a dangling link" -- "$BT" key new -o dangling.key
[ ! -e nowhere ] && ok "nothing written through the link" || bad "wrote through the link"
printf 'keep me\n' >kept.key
expect 1 "key new leaves an existing file" -- "$BT" key new -o kept.key
[ "$(cat kept.key)" = "keep me" ] && ok "the existing file is unchanged" || bad "kept.key changed"
ls ./*.tmp.* >/dev/null 2>&1 && bad "a temporary file was left behind" || ok "no temporary file left behind"

# --- credentials ------------------------------------------------------
expect 0 "cred issue root -> node" -- "$BT" cred issue --key root.key --to "$N" --path "/$R/node" -o node.cred
expect 0 "cred verify for the path" -- "$BT" cred verify node.cred --path "/$R/node"
expect 0 "cred verify for a path beneath" -- "$BT" cred verify node.cred --path "/$R/node/echo"
expect 0 "cred verify --to the node key" -- "$BT" cred verify node.cred --path "/$R/node" --to node.key
expect 1 "cred verify --to another principal" -- "$BT" cred verify node.cred --path "/$R/node" --to "$U"
expect 1 "cred verify for another path" -- "$BT" cred verify node.cred --path "/$R/other"
grep_err "not within" "the failure names the path rule"
expect 1 "cred verify for a prefix that is not a component" -- "$BT" cred verify node.cred --path "/$R/nodes"
expect 0 "cred show" -- "$BT" cred show node.cred
grep -q "^  to:         $N\$" out && ok "cred show prints the principal" || bad "cred show: $(cat out)"
grep -q "^  issuer:     $R (ed25519), the root\$" out && ok "cred show prints the root issuer" || bad "cred show issuer"

expect 0 "cred issue node -> user, narrower" -- "$BT" cred issue --key node.key --cred node.cred --to user.key --path "/$R/node/users/u1" --expires 7d -o user.cred
expect 0 "cred verify the delegated chain" -- "$BT" cred verify user.cred --path "/$R/node/users/u1/inbox" --to "$U"
expect 0 "cred show the chain" -- "$BT" cred show user.cred
grep -q "^chain: 2 links" out && ok "cred show counts two links" || bad "cred show chain: $(head -1 out)"
expect 1 "cred verify the delegated chain above its path" -- "$BT" cred verify user.cred --path "/$R/node"
expect 1 "cred issue refuses to widen" -- "$BT" cred issue --key node.key --cred node.cred --to "$U" --path "/$R/admin" -o wide.cred
grep_err "delegation can only narrow" "the refusal says delegation narrows"
[ ! -e wide.cred ] && ok "no file written on refusal" || bad "wide.cred exists"
expect 1 "cred issue by a non-root key without --cred" -- "$BT" cred issue --key node.key --to "$U" --path "/$R/node/x" -o x.cred
grep_err "is not the root" "the refusal names the root rule"
expect 1 "cred issue with someone else's credential" -- "$BT" cred issue --key user.key --cred node.cred --to "$U" --path "/$R/node/x" -o x.cred
expect 1 "cred issue with a 0644 key" -- "$BT" cred issue --key open.key --to "$N" --path "/$R/node" -o x.cred
expect 1 "cred issue for a bad path" -- "$BT" cred issue --key root.key --to "$N" --path "/$R/../x" -o x.cred

# A public key file others can write is not trusted as --to (review
# finding C8): they could swap in their own key.
expect 0 "key show user.key" -- "$BT" key show user.key
printf 'bt-key 1\nalg ed25519\npublic %s\n' "$(sed -n 's/^public: *//p' out)" >user.pub
chmod 666 user.pub
expect 1 "cred issue --to a world-writable key file" -- "$BT" cred issue --key root.key --to user.pub --path "/$R/u" -o w.cred
grep_err "writable by group or others" "the refusal says the key file is writable"
[ ! -e w.cred ] && ok "no credential issued to a writable key file" || bad "w.cred exists"
chmod 664 user.pub
expect 1 "cred issue --to a group-writable key file" -- "$BT" cred issue --key root.key --to user.pub --path "/$R/u" -o w.cred
expect 1 "cred verify --to a writable key file" -- "$BT" cred verify user.cred --path "/$R/node/users/u1" --to user.pub
chmod 644 user.pub
expect 0 "cred issue --to a 0644 public key file" -- "$BT" cred issue --key root.key --to user.pub --path "/$R/u" -o w.cred
expect 0 "cred verify --to a 0644 public key file" -- "$BT" cred verify w.cred --path "/$R/u" --to user.pub

# "ok ... until T" is the earliest expiry in the chain (review finding C5).
now=$(date +%s)
pexp=$((now + 7200))
expect 0 "cred issue a parent expiring in 2h" -- "$BT" cred issue --key root.key --to "$N" --path "/$R/node" --expires "@$pexp" -o short.cred
expect 0 "cred issue a 1y child under it" -- "$BT" cred issue --key node.key --cred short.cred --to "$U" --path "/$R/node/c" -o child.cred
grep_err "note: the issuer's chain expires" "issuing notes the parent's earlier expiry"
expect 0 "cred verify the child" -- "$BT" cred verify child.cred --path "/$R/node/c"
want=$(date -u -d "@$pexp" +%Y-%m-%dT%H:%M:%SZ)
grep -q "until $want\$" out && ok "verify prints the parent's expiry ($want)" || bad "verify: $(cat out), want until $want"

# Expired and not yet valid, without waiting: times relative to now.
expect 0 "cred issue an expired credential" -- "$BT" cred issue --key root.key --to "$N" --path "/$R/node" --not-before -2h --expires -1h -o old.cred
expect 1 "cred verify an expired credential" -- "$BT" cred verify old.cred --path "/$R/node"
grep_err "expired" "the failure says expired"
expect 0 "cred verify it in the past (--at)" -- "$BT" cred verify old.cred --path "/$R/node" --at -90m
expect 0 "cred issue a future credential" -- "$BT" cred issue --key root.key --to "$N" --path "/$R/node" --not-before 1h --expires 2h -o future.cred
expect 1 "cred verify a not yet valid credential" -- "$BT" cred verify future.cred --path "/$R/node"
grep_err "not valid until" "the failure says not yet valid"
expect 0 "cred issue under an expired parent" -- "$BT" cred issue --key node.key --cred old.cred --to "$U" --path "/$R/node/u" --not-before -2h --expires 1h -o under-old.cred
grep_err "note: the issuer's chain expires" "issuing warns about the parent's expiry"
expect 1 "cred verify under an expired parent" -- "$BT" cred verify under-old.cred --path "/$R/node/u"
grep_err "link 2" "the failure names the parent's link"

# Forged: one character of the signature changed.
line=$(sed -n 2p node.cred)
n=${#line}
pos=$((n - 20))
c=$(printf %s "$line" | cut -c$pos)
if [ "$c" = A ]; then r=B; else r=A; fi
printf 'bt-cred 1\n%s%s%s\n' "$(printf %s "$line" | cut -c1-$((pos - 1)))" "$r" "$(printf %s "$line" | cut -c$((pos + 1))-)" >forged.cred
cmp -s forged.cred node.cred && bad "forged copy is unchanged" || ok "forged copy differs"
expect 1 "cred verify a forged credential" -- "$BT" cred verify forged.cred --path "/$R/node"
grep_err "signature does not verify" "the failure says the signature is bad"
printf 'bt-cred 1\n%s\n' "$(printf %s "$line" | cut -c1-40)" >trunc.cred
expect 1 "cred verify a truncated credential" -- "$BT" cred verify trunc.cred --path "/$R/node"
grep_err "malformed" "the failure says malformed"
# The offset is in the decoded binary, not the text (review finding C6).
grep_err "of the decoded credential" "the offset is said to be in the decoded credential"
printf 'bt-cred 2\n%s\n' "$line" >hdr.cred
expect 1 "cred verify a credential with a bad header" -- "$BT" cred verify hdr.cred --path "/$R/node"
grep_err "line 1" "a text error names its line"
expect 1 "cred show a missing file" -- "$BT" cred show nothere.cred

# --- usage: exit 2 ----------------------------------------------------
expect 2 "key with no subcommand" -- "$BT" key
expect 2 "key with an unknown subcommand" -- "$BT" key frob
expect 2 "key new with an unknown option" -- "$BT" key new --bogus
expect 2 "key show without FILE" -- "$BT" key show
expect 2 "cred issue without --path" -- "$BT" cred issue --key root.key --to "$N" -o x.cred
expect 2 "cred issue with a bad --expires" -- "$BT" cred issue --key root.key --to "$N" --path "/$R/node" --expires soon -o x.cred
expect 2 "cred verify without --path" -- "$BT" cred verify node.cred
expect 2 "cred verify with an unknown option" -- "$BT" cred verify node.cred --path "/$R/node" --bogus
for h in "key" "key new" "key show" "cred" "cred issue" "cred show" "cred verify"; do
	# shellcheck disable=SC2086
	expect 0 "bt $h --help" -- "$BT" $h --help
	grep -q "example" out && ok "bt $h --help has an example" || bad "bt $h --help lacks an example"
done

echo "$fails failed"
[ "$fails" -eq 0 ]
