/*
 * fuse.c: superinstruction selection for the compiler (code.c). Each
 * function here looks back at the instructions emitted since the last
 * label and, when their shape matches, removes them and tells code.c
 * which fused instruction to emit (or emits it). See code.c's design
 * block for the list of tricks and the invariants they keep.
 */
#include <stdlib.h>
#include <string.h>

#include "comp.h"

static const int cmp_ops[][4] = {
	/* compare, its negation, fused branch, fused negated branch */
#define C(t, x, n) { OP_##t##_##x, OP_##t##_##n, OP_BR_##t##_##x, OP_BR_##t##_##n }, \
	{ OP_##t##_##x##_I, OP_##t##_##n##_I, OP_BR_##t##_##x##_I, OP_BR_##t##_##n##_I }
	C(I32, EQ, NE), C(I32, NE, EQ), C(I32, LT_S, GE_S), C(I32, LT_U, GE_U),
	C(I32, GT_S, LE_S), C(I32, GT_U, LE_U), C(I32, LE_S, GT_S),
	C(I32, LE_U, GT_U), C(I32, GE_S, LT_S), C(I32, GE_U, LT_U),
	C(I64, EQ, NE), C(I64, NE, EQ), C(I64, LT_S, GE_S), C(I64, LT_U, GE_U),
	C(I64, GT_S, LE_S), C(I64, GT_U, LE_U), C(I64, LE_S, GT_S),
	C(I64, LE_U, GT_U), C(I64, GE_S, LT_S), C(I64, GE_U, LT_U),
#undef C
};

/*
 * Takes the condition just popped (entry v, which was at stack index h):
 * if the last instruction computed it with a compare (or eqz), removes that
 * instruction and returns the fused form.
 */
void
bt__wasm_fuse_cond(struct wcomp *c, const struct cval *v, uint32_t h,
    struct cond *out)
{
	bt_wasm_module *m = c->m;

	if (v->kind == K_SLOT && c->last_dst != NOFIX && c->last_h == h &&
	    !c->oom) {
		uint64_t *ins = m->code + c->last_start;

		if (c->last_op == OP_I32_EQZ) {
			out->op = OP_BR_UNLESS;
			out->a = ins[2];
			goto removed;
		}
		for (size_t i = 0; i < sizeof(cmp_ops) / sizeof(cmp_ops[0]); i++) {
			if (cmp_ops[i][0] != c->last_op)
				continue;
			out->op = cmp_ops[i][2];
			out->a = ins[2];
			out->b = ins[3];
			goto removed;
		}
	}
	out->op = OP_BR_IF;
	if (v->kind == K_LOCAL)
		out->a = v->idx;
	else if (v->kind == K_CONST) {
		/* A constant condition: materialize it into its slot. */
		emit_const(c, S(c, h), v->c);
		out->a = S(c, h);
	} else
		out->a = S(c, h);
	return;
removed:
	unemit_last(c);
}

int
bt__wasm_cond_negate(int o)
{
	if (o == OP_BR_IF)
		return OP_BR_UNLESS;
	if (o == OP_BR_UNLESS)
		return OP_BR_IF;
	for (size_t i = 0; i < sizeof(cmp_ops) / sizeof(cmp_ops[0]); i++)
		if (cmp_ops[i][2] == o)
			return cmp_ops[i][3];
	return -1;
}

/*
 * addi_at says whether the tracked instruction (op po at cell ps) is an
 * I32_ADD_I (or its acc variant) that ends where the instruction at cell
 * at begins, whole, with its own entry mi in the offset map; then *w, *s
 * and *k are its result slot, operand slot and constant.
 */
static bool
addi_at(struct wcomp *c, int po, uint32_t ps, uint32_t at, uint32_t mi,
    uint32_t *w, uint32_t *s, uint32_t *k)
{
	const uint64_t *ins;

	if (po < 0 || bt__wasm_base_of(po) != OP_I32_ADD_I || ps + 4 != at ||
	    c->m->map[mi].pc != ps)
		return false;
	ins = c->m->code + ps;
	*w = (uint32_t)ins[1];
	*s = (uint32_t)ins[2];
	*k = (uint32_t)ins[3];
	return true;
}

/* the fused x += k; branch if a op b, by the op of the branch */
static const uint16_t addi_br[][2] = {
	{ OP_BR_I32_EQ, OP_ADDI_BR_I32_EQ },
	{ OP_BR_I32_NE, OP_ADDI_BR_I32_NE },
	{ OP_BR_I32_LT_S, OP_ADDI_BR_I32_LT_S },
	{ OP_BR_I32_LT_U, OP_ADDI_BR_I32_LT_U },
	{ OP_BR_I32_GT_S, OP_ADDI_BR_I32_GT_S },
	{ OP_BR_I32_GT_U, OP_ADDI_BR_I32_GT_U },
	{ OP_BR_I32_LE_S, OP_ADDI_BR_I32_LE_S },
	{ OP_BR_I32_LE_U, OP_ADDI_BR_I32_LE_U },
	{ OP_BR_I32_GE_S, OP_ADDI_BR_I32_GE_S },
	{ OP_BR_I32_GE_U, OP_ADDI_BR_I32_GE_U },
};

/*
 * Trick 9: loop latches. A loop counter step x = x + k just before br_if
 * on x (x != 0, or x != n) becomes one I32_INC_BR_NZ / I32_INC_BR_NE;
 * with another step w = s + j just before it (a pointer moving with the
 * counter), I32_ADDI_INC_BR_NZ / _NE do both. A step w = s + j just
 * before a compare-and-branch of two slots other than w (p += 4; if (p <
 * end) ...) becomes ADDI_BR_I32_xx. The fused instruction keeps the
 * branch's code offset (the adds cannot trap) and writes nothing before
 * its fuel or interrupt check, so a stop there resumes by executing it
 * again (exec.c, invariant 3). Returns the cell of the branch offset, or
 * NOFIX when the shape does not match.
 */
uint32_t
bt__wasm_fuse_inc_branch(struct wcomp *c, const struct cond *k)
{
	bt_wasm_module *m = c->m;
	uint32_t x, xs, kk, at, w, s, j;
	bool two;

	if (c->oom || m->nmap == 0 ||
	    !addi_at(c, c->seq_op, c->seq_start, (uint32_t)m->ncode,
		m->nmap - 1, &x, &xs, &kk))
		return NOFIX;
	if (k->op != OP_BR_IF && k->op != OP_BR_I32_NE_I) {
		int fo = -1;

		for (size_t i = 0; i < sizeof(addi_br) / sizeof(addi_br[0]);
		     i++)
			if (addi_br[i][0] == k->op)
				fo = addi_br[i][1];
		if (fo < 0 || x == k->a || x == k->b)
			return NOFIX;
		m->ncode = c->seq_start;
		m->nmap--;
		forget(c);
		op(c, fo);
		cell(c, x);
		cell(c, xs);
		cell(c, kk);
		cell(c, k->a);
		cell(c, k->b);
		at = (uint32_t)m->ncode;
		cell(c, NOFIX);
		return at;
	}
	if (x != xs || x != k->a)
		return NOFIX;
	/* a second step just before, of another slot */
	two = m->nmap >= 2 &&
	    addi_at(c, c->prev_seq_op, c->prev_seq_start, c->seq_start,
		m->nmap - 2, &w, &s, &j) && w != x;
	if (two) {
		m->ncode = c->prev_seq_start;
		m->nmap -= 2;
	} else {
		m->ncode = c->seq_start;
		m->nmap--;
	}
	forget(c);
	if (two)
		op(c, k->op == OP_BR_IF ? OP_I32_ADDI_INC_BR_NZ :
					  OP_I32_ADDI_INC_BR_NE);
	else
		op(c, k->op == OP_BR_IF ? OP_I32_INC_BR_NZ : OP_I32_INC_BR_NE);
	if (two) {
		cell(c, w);
		cell(c, s);
		cell(c, j);
	}
	cell(c, x);
	cell(c, kk);
	if (k->op == OP_BR_I32_NE_I)
		cell(c, k->b);
	at = (uint32_t)m->ncode;
	cell(c, NOFIX);
	return at;
}

/*
 * If the address at stack index h was computed by the instruction just
 * emitted, an i32.add or i32.add with an immediate, removes that
 * instruction and returns the fused memory op (address = base + index or
 * base + immediate, wrapped to 32 bits, plus the offset); else -1.
 */
int
bt__wasm_fuse_addr(struct wcomp *c, uint32_t h, int memop, uint32_t *a,
    uint32_t *b, uint32_t *k)
{
	static const struct {
		uint16_t op, fi, fr;
	} fuse[] = {
		{ OP_LD32, OP_LD32_I, OP_LD32_R },
		{ OP_LD64, OP_LD64_I, OP_LD64_R },
		{ OP_LD8S32, OP_LD8S32_I, OP_LD8S32_R },
		{ OP_LD8U, OP_LD8U_I, OP_LD8U_R },
		{ OP_LD16S32, OP_LD16S32_I, OP_LD16S32_R },
		{ OP_LD16U, OP_LD16U_I, OP_LD16U_R },
		{ OP_LD8S64, OP_LD8S64_I, OP_LD8S64_R },
		{ OP_LD16S64, OP_LD16S64_I, OP_LD16S64_R },
		{ OP_LD32S64, OP_LD32S64_I, OP_LD32S64_R },
		{ OP_ST8, OP_ST8_I, OP_ST8_R },
		{ OP_ST16, OP_ST16_I, OP_ST16_R },
		{ OP_ST32, OP_ST32_I, OP_ST32_R },
		{ OP_ST64, OP_ST64_I, OP_ST64_R },
	};
	bt_wasm_module *m = c->m;
	uint64_t *ins;
	int fo = -1;

	static const struct {
		uint16_t op, fx;
	} xfuse[] = {
		{ OP_LD32, OP_LD32_X },
		{ OP_LD64, OP_LD64_X },
		{ OP_LD8U, OP_LD8U_X },
		{ OP_LD16S32, OP_LD16S32_X },
		{ OP_LD16U, OP_LD16U_X },
	};

	if (c->vals[h].kind != K_SLOT || c->last_dst == NOFIX ||
	    c->last_h != h || c->oom)
		return -1;
	if (c->last_op == OP_I32_ADD_SHL) {
		/* base + (index << k): the caller emits (base, index, k) */
		for (size_t i = 0; i < sizeof(xfuse) / sizeof(xfuse[0]); i++)
			if (xfuse[i].op == memop)
				fo = xfuse[i].fx;
		if (fo < 0)
			return -1;
		ins = m->code + c->last_start;
		*a = ins[2];
		*b = ins[3];
		*k = ins[4];
		unemit_last(c);
		return fo;
	}
	if (c->last_base != OP_I32_ADD && c->last_base != OP_I32_ADD_I)
		return -1;
	for (size_t i = 0; i < sizeof(fuse) / sizeof(fuse[0]); i++)
		if (fuse[i].op == memop)
			fo = c->last_base == OP_I32_ADD_I ? fuse[i].fi : fuse[i].fr;
	if (fo < 0)
		return -1;
	ins = m->code + c->last_start;
	*a = ins[2];
	*b = ins[3];
	unemit_last(c);
	return fo;
}

/*
 * Trick 4: every handler that writes a result also keeps it in a machine
 * register (acc). When an operand is the result of the instruction emitted
 * just before (and no label lies between them), a variant reads acc
 * instead of the slot, which avoids a store-to-load round trip on
 * dependency chains. which is 0 for operand a, 1 for operand b; returns the
 * variant or o.
 */
static const struct {
	uint16_t op, a, b;
} acc_ops[] = {
	{ OP_I32_ADD, OP_I32_ADD_A, OP_I32_ADD_B },
	{ OP_I32_SUB, OP_I32_SUB_A, OP_I32_SUB_B },
	{ OP_I32_MUL, OP_I32_MUL_A, OP_I32_MUL_B },
	{ OP_I32_AND, OP_I32_AND_A, OP_I32_AND_B },
	{ OP_I32_OR, OP_I32_OR_A, OP_I32_OR_B },
	{ OP_I32_XOR, OP_I32_XOR_A, OP_I32_XOR_B },
	{ OP_I32_SHL, OP_I32_SHL_A, OP_I32_SHL_B },
	{ OP_I32_SHR_U, OP_I32_SHR_U_A, OP_I32_SHR_U_B },
	{ OP_I32_SHR_S, OP_I32_SHR_S_A, OP_I32_SHR_S_B },
	{ OP_I64_ADD, OP_I64_ADD_A, OP_I64_ADD_B },
	{ OP_I64_SUB, OP_I64_SUB_A, OP_I64_SUB_B },
	{ OP_I64_MUL, OP_I64_MUL_A, OP_I64_MUL_B },
	{ OP_I64_AND, OP_I64_AND_A, OP_I64_AND_B },
	{ OP_I64_OR, OP_I64_OR_A, OP_I64_OR_B },
	{ OP_I64_XOR, OP_I64_XOR_A, OP_I64_XOR_B },
	{ OP_F64_ADD, OP_F64_ADD_A, OP_F64_ADD_B },
	{ OP_F64_SUB, OP_F64_SUB_A, OP_F64_SUB_B },
	{ OP_F64_MUL, OP_F64_MUL_A, OP_F64_MUL_B },
	{ OP_F64_DIV, OP_F64_DIV_A, OP_F64_DIV_B },
	{ OP_F32_ADD, OP_F32_ADD_A, OP_F32_ADD_B },
	{ OP_F32_SUB, OP_F32_SUB_A, OP_F32_SUB_B },
	{ OP_F32_MUL, OP_F32_MUL_A, OP_F32_MUL_B },
	{ OP_F64_ADD_I, OP_F64_ADD_I_A, 0 },
	{ OP_F64_SUB_I, OP_F64_SUB_I_A, 0 },
	{ OP_F64_MUL_I, OP_F64_MUL_I_A, 0 },
	{ OP_F64_DIV_I, OP_F64_DIV_I_A, 0 },
	{ OP_F64_SQRT, OP_F64_SQRT_A, 0 },
	{ OP_I32_ADD_I, OP_I32_ADD_I_A, 0 },
	{ OP_I32_AND_I, OP_I32_AND_I_A, 0 },
	{ OP_I32_XOR_I, OP_I32_XOR_I_A, 0 },
	{ OP_I32_SHL_I, OP_I32_SHL_I_A, 0 },
	{ OP_I32_SHR_U_I, OP_I32_SHR_U_I_A, 0 },
	{ OP_I32_SHR_S_I, OP_I32_SHR_S_I_A, 0 },
	{ OP_I32_ROTL_I, OP_I32_ROTL_I_A, 0 },
	{ OP_I64_ADD_I, OP_I64_ADD_I_A, 0 },
	{ OP_I64_AND_I, OP_I64_AND_I_A, 0 },
	{ OP_I64_SHL_I, OP_I64_SHL_I_A, 0 },
	{ OP_I64_SHR_U_I, OP_I64_SHR_U_I_A, 0 },
	{ OP_LD32, OP_LD32_A, 0 },
	{ OP_I32_ADD_ANDN, OP_I32_ADD_ANDN_A, 0 },
	{ OP_LD64, OP_LD64_A, 0 },
	{ OP_ST32, 0, OP_ST32_V },
	{ OP_ST64, 0, OP_ST64_V },
};

/* The plain form of an acc variant (its cells are the same: every slot an
 * acc variant names holds the value it reads from acc). */
static uint16_t base_tab[OP__COUNT]; /* filled by bt__wasm_fuse_init */

int
bt__wasm_base_of(int o)
{
	return o < 0 ? o : base_tab[o];
}

static void post_init(void);

_Static_assert(OP_SEL_I32_GE_U - OP_SEL_I32_EQ == 9 &&
	OP_SEL_I32_GE_U_N - OP_SEL_I32_EQ_N == 9 &&
	OP_LDX2SEL_I32_GE_U - OP_LDX2SEL_I32_EQ == 9 &&
	OP_LDX2SEL_I32_EQ_N - OP_LDX2SEL_I32_EQ == 10 &&
	OP_LDX2SEL_I32_GE_U_N - OP_LDX2SEL_I32_EQ == 19,
    "ops.h: the select forms out of order");

void
bt__wasm_fuse_init(void)
{
	for (int o = 0; o < OP__COUNT; o++)
		base_tab[o] = (uint16_t)o;
	for (size_t i = 0; i < sizeof(acc_ops) / sizeof(acc_ops[0]); i++) {
		if (acc_ops[i].a != 0)
			base_tab[acc_ops[i].a] = acc_ops[i].op;
		if (acc_ops[i].b != 0)
			base_tab[acc_ops[i].b] = acc_ops[i].op;
	}
	post_init();
}

int
bt__wasm_acc_variant(struct wcomp *c, int o, uint32_t idx, int which)
{
	const struct cval *v = &c->vals[idx];
	uint32_t slot;

	if (c->acc_slot == NOFIX || v->kind == K_CONST)
		return o;
	slot = v->kind == K_LOCAL ? v->idx : S(c, idx);
	if (slot != c->acc_slot)
		return o;
	for (size_t i = 0; i < sizeof(acc_ops) / sizeof(acc_ops[0]); i++)
		if (acc_ops[i].op == o) {
			int w = which == 0 ? acc_ops[i].a : acc_ops[i].b;
			return w ? w : o;
		}
	return o;
}

/*
 * Trick 6: a binary operation whose operand b was loaded from memory by
 * the instruction just emitted (its result still in its stack slot, read
 * by nothing else) takes the load into itself: the load is removed and
 * the fused form reads memory. The fused instruction keeps the load's code
 * offset, as only its load part can trap.
 */
bool
bt__wasm_fuse_load(struct wcomp *c, uint32_t h, int o, struct ldfuse *out)
{
	static const struct {
		uint16_t op, ld, fused;
	} tab[] = {
		{ OP_I32_ADD, OP_LD32, OP_I32_ADD_M },
		{ OP_I32_SUB, OP_LD32, OP_I32_SUB_M },
		{ OP_I32_MUL, OP_LD32, OP_I32_MUL_M },
		{ OP_I32_AND, OP_LD32, OP_I32_AND_M },
		{ OP_I32_OR, OP_LD32, OP_I32_OR_M },
		{ OP_I32_XOR, OP_LD32, OP_I32_XOR_M },
		{ OP_I32_ADD, OP_LD16S32, OP_I32_ADD_M16S },
		{ OP_I32_MUL, OP_LD16S32, OP_I32_MUL_M16S },
		{ OP_I64_ADD, OP_LD64, OP_I64_ADD_M },
		{ OP_I64_SUB, OP_LD64, OP_I64_SUB_M },
		{ OP_I64_AND, OP_LD64, OP_I64_AND_M },
		{ OP_I64_OR, OP_LD64, OP_I64_OR_M },
		{ OP_I64_XOR, OP_LD64, OP_I64_XOR_M },
		{ OP_F32_ADD, OP_LD32, OP_F32_ADD_M },
		{ OP_F32_SUB, OP_LD32, OP_F32_SUB_M },
		{ OP_F32_MUL, OP_LD32, OP_F32_MUL_M },
		{ OP_F32_DIV, OP_LD32, OP_F32_DIV_M },
		{ OP_F64_ADD, OP_LD64, OP_F64_ADD_M },
		{ OP_F64_SUB, OP_LD64, OP_F64_SUB_M },
		{ OP_F64_MUL, OP_LD64, OP_F64_MUL_M },
		{ OP_F64_DIV, OP_LD64, OP_F64_DIV_M },
	};
	bt_wasm_module *m = c->m;
	const uint64_t *ins;
	int ld, plain;

	if (c->vals[h].kind != K_SLOT || c->last_dst == NOFIX ||
	    c->last_h != h || c->oom || m->nmap == 0)
		return false;
	switch (c->last_base) {
	case OP_LD32: ld = OP_LD32; plain = 1; break;
	case OP_LD32_I: ld = OP_LD32; plain = 0; break;
	case OP_LD64: ld = OP_LD64; plain = 1; break;
	case OP_LD64_I: ld = OP_LD64; plain = 0; break;
	case OP_LD16S32: ld = OP_LD16S32; plain = 1; break;
	case OP_LD16S32_I: ld = OP_LD16S32; plain = 0; break;
	default: return false;
	}
	out->op = -1;
	out->ld = ld;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (tab[i].op == o && tab[i].ld == ld)
			out->op = tab[i].fused;
	if (out->op < 0)
		return false;
	ins = m->code + c->last_start;
	/* LDxx is (dst, base, off): the same address as base + 0 wrapped,
	 * plus off. LDxx_I is (dst, base, imm, off). */
	out->base = (uint32_t)ins[2];
	out->imm = plain ? 0 : (uint32_t)ins[3];
	out->off = plain ? (uint32_t)ins[3] : (uint32_t)ins[4];
	out->off_map = m->map[m->nmap - 1].off;
	out->acc_slot = c->prev_acc_slot;
	unemit_last(c);
	return true;
}

/*
 * last_feeds says whether the instruction just emitted (of base op op, its
 * result still in its own slot) computed one of the two operands at h and
 * h + 1, whose slots are sa and sb; *other is then the other one's slot.
 * The common test of the fusions that absorb the previous instruction.
 */
static bool
last_feeds(struct wcomp *c, uint32_t h, int op, uint32_t sa, uint32_t sb,
    uint32_t *other)
{
	if (c->last_dst == NOFIX || c->oom || c->m->nmap == 0 ||
	    c->last_base != op)
		return false;
	if (c->last_h == h + 1 && c->vals[h + 1].kind == K_SLOT)
		*other = sa;
	else if (c->last_h == h && c->vals[h].kind == K_SLOT)
		*other = sb;
	else
		return false;
	return true;
}

/*
 * Trick 7: i32.add of a value and the result of the i32.shl by a constant
 * just emitted (array indexing) becomes one I32_ADD_SHL; a load of the
 * sum then becomes a load with a shifted index (bt__wasm_fuse_addr). On success
 * *sa is the base slot, *sb the index slot and *k the shift.
 */
bool
bt__wasm_fuse_shl(struct wcomp *c, uint32_t h, uint32_t *sa, uint32_t *sb,
    uint32_t *k)
{
	const uint64_t *ins;
	uint32_t base;

	if (!last_feeds(c, h, OP_I32_SHL_I, *sa, *sb, &base))
		return false;
	/* The shift's operand is in its slot even in the _A form (every
	 * handler writes its result to its slot as well as to acc). */
	ins = c->m->code + c->last_start;
	*sa = base;
	*sb = (uint32_t)ins[2];
	*k = (uint32_t)ins[3] & 31;
	unemit_last(c);
	return true;
}

/*
 * Trick 14: i32.add of x and the result of the i32.add just emitted (a sum
 * of three values: sum trees, address arithmetic) becomes one I32_ADD3.
 * On success *sa, *sb and *sc are the three slots.
 */
bool
bt__wasm_fuse_add(struct wcomp *c, uint32_t h, uint32_t *sa, uint32_t *sb,
    uint32_t *sc)
{
	const uint64_t *ins;
	uint32_t x;

	if (!last_feeds(c, h, OP_I32_ADD, *sa, *sb, &x))
		return false;
	/* Both operands of the first add are in their slots, even in its
	 * acc variants (every handler writes its result to its slot). */
	ins = c->m->code + c->last_start;
	*sa = x;
	*sb = (uint32_t)ins[2];
	*sc = (uint32_t)ins[3];
	unemit_last(c);
	return true;
}

/*
 * Trick 8: f64.add or f64.sub of x and the f64.mul just emitted (x + a*b,
 * a*b + x, x - a*b) becomes one F64_MULADD or F64_MULSUB. On success *sa
 * is x's slot, *sb and *sc the factors' slots, *fo the fused op.
 */
bool
bt__wasm_fuse_mul(struct wcomp *c, uint32_t h, int o, uint32_t *sa,
    uint32_t *sb, uint32_t *sc, int *fo)
{
	const uint64_t *ins;
	const struct cval *x;
	uint32_t xs;

	if (c->last_dst == NOFIX || c->oom || c->m->nmap == 0 ||
	    c->last_base != OP_F64_MUL)
		return false;
	if (c->last_h == h + 1 && c->vals[h + 1].kind == K_SLOT) {
		xs = *sa;
		x = &c->vals[h];
	} else if (o == OP_F64_ADD && c->last_h == h &&
	    c->vals[h].kind == K_SLOT) {
		xs = *sb;
		x = &c->vals[h + 1];
	} else {
		return false;
	}
	ins = c->m->code + c->last_start;
	*sb = (uint32_t)ins[2];
	*sc = (uint32_t)ins[3];
	*sa = xs;
	unemit_last(c);
	/* x in acc when the instruction before the product computed it */
	bool xa = x->kind != K_CONST && c->acc_slot != NOFIX &&
	    (x->kind == K_LOCAL ? x->idx : xs) == c->acc_slot;
	if (o == OP_F64_ADD)
		*fo = xa ? OP_F64_MULADD_A : OP_F64_MULADD;
	else
		*fo = xa ? OP_F64_MULSUB_A : OP_F64_MULSUB;
	return true;
}

/*
 * restart_at drops the code from start on (the last n instructions and
 * their map entries) and begins instruction o there, mapped to code offset
 * map_off: where the first dropped one began, so a trap in the fused
 * instruction reports the place of its first part.
 */
static void
restart_at(struct wcomp *c, uint32_t start, size_t n, uint32_t map_off,
    int o)
{
	bt_wasm_module *m = c->m;
	uint32_t save = c->cur_off;

	m->ncode = start;
	m->nmap -= n;
	forget(c);
	c->cur_off = map_off;
	op(c, o);
	c->cur_off = save;
}

/* The _I form of bt__wasm_fuse_rmw: o's two instructions are the
 * last two, and if an I32_ADD_I into the address slot sa comes just
 * before them, all three become one (see below). */
static bool
rmw_addi(struct wcomp *c, int o, uint32_t sa, uint32_t sv, uint32_t off,
    uint32_t fa, uint32_t fb, uint32_t map_off)
{
	bt_wasm_module *m = c->m;
	uint32_t w, s, k;

	if (m->nmap < 3 ||
	    !addi_at(c, c->prev2_seq_op, c->prev2_seq_start,
		c->prev_seq_start, m->nmap - 3, &w, &s, &k) || w != sa)
		return false;
	restart_at(c, c->prev2_seq_start, 3, map_off,
	    o == OP_F64_MULSUB_RMW ? OP_F64_MULSUB_RMW_I :
				     OP_F64_MULADD_RMW_I);
	cell(c, sv);
	cell(c, s);
	cell(c, k);
	cell(c, off);
	cell(c, fa);
	cell(c, fb);
	cell(c, sa);
	return true;
}

/*
 * Trick 10: read-modify-write of one f64 in memory. A store of acc to
 * address (base, off) right after the instruction that computed it, when
 * that instruction read the same address, becomes one instruction:
 *
 *   LD64[_A] x base off; F64_MULSUB_A d x a b; ST64_V base d off
 *       (with x == d)                     -> F64_MULSUB_RMW d base off a b
 *   F64_ADD_M[_A] d [a] base 0 off; ST64_V base d off
 *                                         -> F64_ADD_RMW[_A] d [a] base off
 *
 * and when the address of the first two forms was computed just before
 * them, base = s + k (an I32_ADD_I into a local: the local is written
 * too), F64_MULSUB_RMW_I d s k off a b base (and _MULADD_).
 *
 * d must not be base (the store would see the new base). Only the load
 * part can trap (the store goes where the load just read), so the fused
 * instruction keeps the load's code offset. Returns true if it emitted.
 */
bool
bt__wasm_fuse_rmw(struct wcomp *c, uint32_t sa, uint32_t sv, uint32_t off)
{
	bt_wasm_module *m = c->m;
	const uint64_t *ins, *ld;
	uint32_t n, map_off, fa, fb;
	bool a_acc;
	int o;

	if (c->oom || c->seq_op < 0 || m->nmap < 2 ||
	    m->map[m->nmap - 1].pc != c->seq_start)
		return false;
	ins = m->code + c->seq_start;
	n = bt__wasm_op_len[c->seq_op];
	if (c->seq_start + n != m->ncode)
		return false;
	switch (c->seq_op) {
	case OP_F64_MULSUB_A:
	case OP_F64_MULADD_A:
		/* [d x a b], x from acc: the load just before */
		if (bt__wasm_base_of(c->prev_seq_op) != OP_LD64 ||
		    c->prev_seq_start + 4 != c->seq_start ||
		    m->map[m->nmap - 2].pc != c->prev_seq_start)
			return false;
		ld = m->code + c->prev_seq_start;
		/* The factors are read before the load now: neither may be
		 * the loaded slot. */
		if (ins[1] != sv || ins[2] != ins[1] || ld[1] != ins[1] ||
		    ld[2] != sa || ld[3] != off || sv == sa ||
		    ins[3] == sv || ins[4] == sv)
			return false;
		o = c->seq_op == OP_F64_MULSUB_A ? OP_F64_MULSUB_RMW :
						    OP_F64_MULADD_RMW;
		fa = (uint32_t)ins[3];
		fb = (uint32_t)ins[4];
		map_off = m->map[m->nmap - 2].off;
		if (rmw_addi(c, o, sa, sv, off, fa, fb, map_off))
			break;
		restart_at(c, c->prev_seq_start, 2, map_off, o);
		cell(c, sv);
		cell(c, sa);
		cell(c, off);
		cell(c, fa);
		cell(c, fb);
		break;
	case OP_F64_ADD_M:
	case OP_F64_ADD_M_A:
		/* [d a base imm off]; for _A, acc still holds a when the
		 * fused instruction runs (nothing runs between) */
		a_acc = c->seq_op == OP_F64_ADD_M_A;
		fa = (uint32_t)ins[2];
		if (ins[1] != sv || ins[3] != sa || ins[4] != 0 ||
		    ins[5] != off || sv == sa)
			return false;
		map_off = m->map[m->nmap - 1].off;
		if (a_acc && c->prev_seq_op >= 0 &&
		    bt__wasm_base_of(c->prev_seq_op) == OP_F64_MUL &&
		    c->prev_seq_start + 4 == c->seq_start &&
		    m->map[m->nmap - 2].pc == c->prev_seq_start &&
		    m->code[c->prev_seq_start + 1] == fa && fa == sv) {
			/* a = p * q just before, into d (dead after):
			 * mem += p * q (the sum commutes; wasm allows either
			 * NaN operand's payload) */
			ld = m->code + c->prev_seq_start;
			fa = (uint32_t)ld[2];
			fb = (uint32_t)ld[3];
			if (rmw_addi(c, OP_F64_MULADD_RMW, sa, sv, off, fa,
				fb, map_off))
				break;
			restart_at(c, c->prev_seq_start, 2, map_off,
			    OP_F64_MULADD_RMW);
			cell(c, sv);
			cell(c, sa);
			cell(c, off);
			cell(c, fa);
			cell(c, fb);
			break;
		}
		restart_at(c, c->seq_start, 1, map_off,
		    a_acc ? OP_F64_ADD_RMW_A : OP_F64_ADD_RMW);
		cell(c, sv);
		if (!a_acc)
			cell(c, fa);
		cell(c, sa);
		cell(c, off);
		break;
	default:
		return false;
	}
	c->acc_slot = sv;
	return true;
}

/* The kind of a plain load or a load with an address immediate (the
 * forms bt__wasm_fuse_load and _load_a take), or -1; *plain says which. */
static int
ld_kind(int o, int *plain)
{
	switch (bt__wasm_base_of(o)) {
	case OP_LD32: *plain = 1; return OP_LD32;
	case OP_LD32_I: *plain = 0; return OP_LD32;
	case OP_LD64: *plain = 1; return OP_LD64;
	case OP_LD64_I: *plain = 0; return OP_LD64;
	case OP_LD16S32: *plain = 1; return OP_LD16S32;
	case OP_LD16S32_I: *plain = 0; return OP_LD16S32;
	default: return -1;
	}
}

/*
 * Trick 11: a product of two loaded values (a dot product's step). After
 * bt__wasm_fuse_load took the load of operand b, if operand a is a stack
 * temporary loaded by the instruction now last, of the same kind, that
 * load is taken too. An i32.add between the two loads (the address of the
 * second, into a local) may stay: it is emitted again before the fused
 * instruction when it neither reads nor writes what the first load reads
 * or writes (it cannot trap, and a trap leaves no local to look at). The
 * fused instruction carries two code offsets: its own (the first load's)
 * and, five cells in, the second load's (see map_add).
 */
bool
bt__wasm_fuse_load_a(struct wcomp *c, int ld, uint32_t dst, struct ldfuse *out)
{
	bt_wasm_module *m = c->m;
	const uint64_t *ins;
	uint64_t add[4] = { 0 };
	uint32_t at, mi, add_off = 0, save;
	int kind, plain, ao = -1;

	if (c->oom || c->seq_op < 0 || m->nmap == 0 ||
	    m->map[m->nmap - 1].pc != c->seq_start ||
	    c->seq_start + bt__wasm_op_len[c->seq_op] != m->ncode)
		return false;
	at = c->seq_start;
	mi = m->nmap - 1;
	kind = ld_kind(c->seq_op, &plain);
	if (kind < 0) {
		ao = bt__wasm_base_of(c->seq_op);
		if ((ao != OP_I32_ADD && ao != OP_I32_ADD_I) ||
		    c->prev_seq_op < 0 || m->nmap < 2 ||
		    c->prev_seq_start + bt__wasm_op_len[c->prev_seq_op] !=
			c->seq_start ||
		    m->map[m->nmap - 2].pc != c->prev_seq_start)
			return false;
		memcpy(add, m->code + c->seq_start, sizeof(add));
		add_off = m->map[m->nmap - 1].off;
		at = c->prev_seq_start;
		mi = m->nmap - 2;
		kind = ld_kind(c->prev_seq_op, &plain);
		if (kind < 0)
			return false;
	}
	ins = m->code + at;
	if (kind != ld || ins[1] != dst)
		return false;
	if (ao >= 0 && (add[1] == dst || add[1] == ins[2] || add[2] == dst ||
			   (ao == OP_I32_ADD && add[3] == dst)))
		return false;
	out->base = (uint32_t)ins[2];
	out->imm = plain ? 0 : (uint32_t)ins[3];
	out->off = plain ? (uint32_t)ins[3] : (uint32_t)ins[4];
	out->off_map = m->map[mi].off;
	m->ncode = at;
	m->nmap = mi;
	forget(c);
	if (ao >= 0) {
		/* the plain form: acc will not hold what its _A form read */
		save = c->cur_off;
		c->cur_off = add_off;
		op(c, ao);
		c->cur_off = save;
		cell(c, add[1]);
		cell(c, add[2]);
		cell(c, add[3]);
		forget(c);
	}
	return true;
}

/* The instruction before the last one, if it is whole, contiguous with
 * the last and still in the offset map as its own entry: its start, else
 * NOFIX. */
static uint32_t
seq_whole(struct wcomp *c)
{
	bt_wasm_module *m = c->m;

	if (c->oom || c->seq_op < 0 || m->nmap == 0 ||
	    m->map[m->nmap - 1].pc != c->seq_start ||
	    c->seq_start + bt__wasm_op_len[c->seq_op] != m->ncode)
		return NOFIX;
	return c->seq_start;
}

/*
 * rewind_keep drops the code from cell at on (n map entries: the last
 * instructions, the oldest of which starts at at and is in the history
 * of the last instructions) like restart_at, but keeps the history of
 * the instructions before at, so that a later fusion can still look at
 * them (trick 27 looks past the rotations at the load before them).
 */
static void
rewind_keep(struct wcomp *c, uint32_t at, uint32_t n)
{
	int o[3] = { -1, -1, -1 };
	uint32_t st[3] = { 0, 0, 0 };

	if (c->seq_op >= 0 && c->seq_start == at) {
		o[0] = c->prev_seq_op, st[0] = c->prev_seq_start;
		o[1] = c->prev2_seq_op, st[1] = c->prev2_seq_start;
		o[2] = c->prev3_seq_op, st[2] = c->prev3_seq_start;
	} else if (c->prev_seq_op >= 0 && c->prev_seq_start == at) {
		o[0] = c->prev2_seq_op, st[0] = c->prev2_seq_start;
		o[1] = c->prev3_seq_op, st[1] = c->prev3_seq_start;
	} else if (c->prev2_seq_op >= 0 && c->prev2_seq_start == at) {
		o[0] = c->prev3_seq_op, st[0] = c->prev3_seq_start;
	}
	c->m->ncode = at;
	c->m->nmap -= n;
	forget(c);
	c->seq_op = o[0];
	c->seq_start = st[0];
	c->prev_seq_op = o[1];
	c->prev_seq_start = st[1];
	c->prev2_seq_op = o[2];
	c->prev2_seq_start = st[2];
}

/* a ^ rotl(x, rk), the rotate just removed; a is at stack index h. */
static void
xor_rotl(struct wcomp *c, uint32_t h, uint32_t sa, uint32_t x, uint32_t rk,
    bool a_acc)
{
	bt_wasm_module *m = c->m;
	uint32_t d = S(c, h), at;
	const uint64_t *ins;

	/* a = rotl(x, k1) or rotl(x, k1) ^ rotl(x, k2) just before (it is
	 * in acc), not written over x: one instruction for all. */
	at = a_acc ? seq_whole(c) : NOFIX;
	if (at != NOFIX) {
		int so = c->seq_op;

		ins = m->code + at;
		if ((bt__wasm_base_of(so) == OP_I32_ROTL_I ||
			so == OP_I32_ROT2X) &&
		    ins[1] == d && ins[2] == x && x != d) {
			uint32_t k1 = (uint32_t)ins[3];
			uint32_t k2 = so == OP_I32_ROT2X ? (uint32_t)ins[4] : 0;

			rewind_keep(c, at, 1);
			op(c, so == OP_I32_ROT2X ? OP_I32_ROT3X : OP_I32_ROT2X);
			cell(c, d);
			produced(c, h);
			cell(c, x);
			cell(c, k1);
			if (so == OP_I32_ROT2X)
				cell(c, k2);
			cell(c, rk);
			return;
		}
	}
	op(c, a_acc ? OP_I32_XOR_ROTL_I_A : OP_I32_XOR_ROTL_I);
	cell(c, d);
	produced(c, h);
	cell(c, sa);
	cell(c, x);
	cell(c, rk);
}

/*
 * The majority function, at an xor whose operands are t2 (stack index h)
 * and t3 (h + 1), just computed by the last three instructions:
 *   t1 = p ^ q (slot of h + 1); t2 = a & t1 (slot of h); t3 = p & q
 * p and q must outlive the writes of t1 and t2, a the write of t1.
 */
static bool
fuse_maj(struct wcomp *c, uint32_t h)
{
	bt_wasm_module *m = c->m;
	const uint64_t *x, *an, *pq;
	uint32_t d = S(c, h), t = S(c, h + 1), a, p, q;

	if (c->prev2_seq_op < 0 || m->nmap < 3 ||
	    bt__wasm_base_of(c->prev2_seq_op) != OP_I32_XOR ||
	    bt__wasm_base_of(c->prev_seq_op) != OP_I32_AND ||
	    c->prev2_seq_start + 4 != c->prev_seq_start ||
	    c->prev_seq_start + 4 != c->seq_start ||
	    c->seq_start + 4 != m->ncode ||
	    m->map[m->nmap - 1].pc != c->seq_start ||
	    m->map[m->nmap - 2].pc != c->prev_seq_start ||
	    m->map[m->nmap - 3].pc != c->prev2_seq_start)
		return false;
	x = m->code + c->prev2_seq_start;
	an = m->code + c->prev_seq_start;
	pq = m->code + c->seq_start;
	p = (uint32_t)pq[2];
	q = (uint32_t)pq[3];
	if (x[1] != t || an[1] != d || pq[1] != t ||
	    !((x[2] == p && x[3] == q) || (x[2] == q && x[3] == p)) ||
	    p == d || p == t || q == d || q == t)
		return false;
	if (an[3] == t)
		a = (uint32_t)an[2];
	else if (an[2] == t)
		a = (uint32_t)an[3];
	else
		return false;
	if (a == t)
		return false;
	int p3 = c->prev3_seq_op;
	uint32_t s3 = c->prev3_seq_start;

	m->ncode = c->prev2_seq_start;
	m->nmap -= 3;
	forget(c);
	/* the instruction before, whole, for trick 26 */
	if (p3 >= 0 && s3 + bt__wasm_op_len[p3] == m->ncode &&
	    s3 >= c->label_pc) {
		c->seq_op = p3;
		c->seq_start = s3;
	}
	op(c, OP_I32_MAJ);
	cell(c, d);
	produced(c, h);
	cell(c, a);
	cell(c, p);
	cell(c, q);
	return true;
}

/*
 * Trick 16: xors of rotations and shifts of one value, and a & ~x. At an
 * i32.xor or i32.and (va, its acc variant, is chosen; the operands at
 * stack indexes h and h + 1, slots sa and sb, are popped) whose operand
 * the last instruction computed:
 *
 *   a ^ rotl(x, k)                          -> I32_XOR_ROTL_I[_A] d a x k
 *   rotl(x, j) ^ rotl(x, k)                 -> I32_ROT2X d x j k
 *   rotl(x, i) ^ rotl(x, j) ^ rotl(x, k)    -> I32_ROT3X d x i j k
 *   rotl(x, i) ^ rotl(x, j) ^ (x >> s)      -> I32_ROT2SHRX d x i j s
 *   a & (x ^ -1), (x ^ -1) & a              -> I32_ANDN d a x
 *   (a & (p ^ q)) ^ (p & q)                 -> I32_MAJ d a p q
 *
 * (SHA-2's Sigma and sigma functions, its choice and majority functions;
 * rotr by a constant is compiled as rotl.) The temporaries in between are stack
 * slots read by nothing else, so the fused forms skip them. Emits and
 * returns true, or returns false having changed nothing.
 */
bool
bt__wasm_fuse_bits(struct wcomp *c, uint32_t h, int va, uint32_t sa,
    uint32_t sb)
{
	bt_wasm_module *m = c->m;
	const uint64_t *ins;

	if (c->oom || c->last_dst == NOFIX || m->nmap == 0)
		return false;
	ins = m->code + c->last_start;
	if (va == OP_I32_XOR_B && c->last_base == OP_I32_ROTL_I &&
	    c->last_h == h + 1) {
		uint32_t x = (uint32_t)ins[2], rk = (uint32_t)ins[3];
		/* operand a in acc if the instruction before the rotate
		 * computed it */
		bool a_acc = c->prev_dst != NOFIX && c->prev_h == h &&
		    c->vals[h].kind == K_SLOT;

		unemit_last(c);
		xor_rotl(c, h, sa, x, rk, a_acc);
		return true;
	}
	if (va == OP_I32_XOR_B && c->last_base == OP_I32_SHR_U_I &&
	    c->last_h == h + 1 && c->vals[h].kind == K_SLOT &&
	    c->prev_seq_op == OP_I32_ROT2X &&
	    c->prev_seq_start + 5 == c->last_start &&
	    c->last_start + 4 == m->ncode && m->nmap >= 2 &&
	    m->map[m->nmap - 1].pc == c->last_start &&
	    m->map[m->nmap - 2].pc == c->prev_seq_start) {
		const uint64_t *r = m->code + c->prev_seq_start;
		uint32_t d = S(c, h), x = (uint32_t)ins[2];

		if (r[1] != d || r[2] != x || x == d)
			return false;
		uint32_t k1 = (uint32_t)r[3], k2 = (uint32_t)r[4];
		uint32_t s = (uint32_t)ins[3];

		rewind_keep(c, c->prev_seq_start, 2);
		op(c, OP_I32_ROT2SHRX);
		cell(c, d);
		produced(c, h);
		cell(c, x);
		cell(c, k1);
		cell(c, k2);
		cell(c, s);
		return true;
	}
	if (va == OP_I32_XOR_B && c->last_base == OP_I32_AND &&
	    c->last_h == h + 1 && c->vals[h].kind == K_SLOT)
		return fuse_maj(c, h);
	if (c->last_base == OP_I32_XOR_I && (uint32_t)ins[3] == UINT32_MAX &&
	    ((va == OP_I32_AND_B && c->last_h == h + 1) ||
		(va == OP_I32_AND_A && c->last_h == h))) {
		uint32_t x = (uint32_t)ins[2];
		uint32_t a = va == OP_I32_AND_B ? sa : sb;

		unemit_last(c);
		op(c, OP_I32_ANDN);
		cell(c, S(c, h));
		produced(c, h);
		cell(c, a);
		cell(c, x);
		return true;
	}
	return false;
}

/*
 * Trick 17: x + (a op b), an i32 compare whose 0 or 1 is added (branchless
 * counting and merging: i += a < b), becomes ADDC_I32_xx d x a b. At an
 * i32.add (va, its acc variant) of the entries at h and h + 1 (slots sa
 * and sb, popped), when the last instruction is the compare of two slots
 * that computed one of them. Emits and returns true, or returns false.
 */
bool
bt__wasm_fuse_addc(struct wcomp *c, uint32_t h, int va, uint32_t sa,
    uint32_t sb)
{
	static const uint16_t tab[][2] = {
		{ OP_I32_EQ, OP_ADDC_I32_EQ },
		{ OP_I32_NE, OP_ADDC_I32_NE },
		{ OP_I32_LT_S, OP_ADDC_I32_LT_S },
		{ OP_I32_LT_U, OP_ADDC_I32_LT_U },
		{ OP_I32_GT_S, OP_ADDC_I32_GT_S },
		{ OP_I32_GT_U, OP_ADDC_I32_GT_U },
		{ OP_I32_LE_S, OP_ADDC_I32_LE_S },
		{ OP_I32_LE_U, OP_ADDC_I32_LE_U },
		{ OP_I32_GE_S, OP_ADDC_I32_GE_S },
		{ OP_I32_GE_U, OP_ADDC_I32_GE_U },
	};
	const uint64_t *ins;
	uint32_t x, a, b;
	int fo = -1;

	if (c->oom || c->last_dst == NOFIX || c->m->nmap == 0 ||
	    (va != OP_I32_ADD_A && va != OP_I32_ADD_B))
		return false;
	if ((va == OP_I32_ADD_B && c->last_h != h + 1) ||
	    (va == OP_I32_ADD_A && c->last_h != h))
		return false;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (tab[i][0] == c->last_op)
			fo = tab[i][1];
	if (fo < 0)
		return false;
	ins = c->m->code + c->last_start;
	a = (uint32_t)ins[2];
	b = (uint32_t)ins[3];
	x = va == OP_I32_ADD_B ? sa : sb;
	unemit_last(c);
	op(c, fo);
	cell(c, S(c, h));
	produced(c, h);
	cell(c, x);
	cell(c, a);
	cell(c, b);
	return true;
}

/*
 * Trick 18: two loads with a shifted index from one base in a row (a[i],
 * a[j]: merging, comparing neighbours) become one LD32_X2 d1 base i1 k
 * off1 d2 i2 off2, which does them in order (the second reads base and
 * i2 after d1 is written, as the second instruction did). It keeps the
 * first load's code offset, and a second entry in the offset map at d2's
 * cell for the second load (see map_add).
 */
void
bt__wasm_fuse_ld2(struct wcomp *c, uint32_t h)
{
	bt_wasm_module *m = c->m;
	const uint64_t *a, *b;
	uint32_t d1, base, i1, k, off1, d2, i2, off2, map1, map2;

	if (c->oom || c->seq_op != OP_LD32_X || c->prev_seq_op != OP_LD32_X ||
	    m->nmap < 2 || c->prev_seq_start + 6 != c->seq_start ||
	    c->seq_start + 6 != m->ncode ||
	    m->map[m->nmap - 1].pc != c->seq_start ||
	    m->map[m->nmap - 2].pc != c->prev_seq_start)
		return;
	a = m->code + c->prev_seq_start;
	b = m->code + c->seq_start;
	if (a[2] != b[2] || a[4] != b[4] || b[1] != S(c, h))
		return;
	d1 = (uint32_t)a[1];
	base = (uint32_t)a[2];
	i1 = (uint32_t)a[3];
	k = (uint32_t)a[4];
	off1 = (uint32_t)a[5];
	d2 = (uint32_t)b[1];
	i2 = (uint32_t)b[3];
	off2 = (uint32_t)b[5];
	map1 = m->map[m->nmap - 2].off;
	map2 = m->map[m->nmap - 1].off;
	restart_at(c, c->prev_seq_start, 2, map1, OP_LD32_X2);
	cell(c, d1);
	cell(c, base);
	cell(c, i1);
	cell(c, k);
	cell(c, off1);
	map_add(c, (uint32_t)m->ncode, map2);
	cell(c, d2);
	produced(c, h);
	cell(c, i2);
	cell(c, off2);
}

/*
 * Trick 19, a pass over a function's finished code (fuse.c sees only the
 * code as it is emitted; rewrites by later fusions are settled here):
 *
 *  - The f64 acc variants read facc, a floating-point register the f64
 *    handlers keep their result in (no trip through a general register
 *    and back on a chain of f64 operations). Where the instruction before
 *    one did not set facc (a load, a move, an integer op on the bits), the
 *    variant goes back to its plain form, which reads the slot.
 *  - When an instruction takes its operand from acc, the instruction
 *    before it computed that operand (a label forgets acc), and the slot
 *    is a stack temporary, nothing else reads the slot: WebAssembly pops
 *    each operand once, and a temporary is named by one operand only. The
 *    instruction before then becomes its no-store twin (_N), which leaves
 *    the result in acc only.
 *
 * A stop for fuel or an interrupt is taken only at branches and calls,
 * which never read acc, so no stop falls between the two.
 */
static struct hop {
	uint64_t h;
	uint16_t op;
} hops[OP__COUNT];
static uint8_t	acc_cell[OP__COUNT]; /* cell naming what comes from acc */
static uint16_t twin_of[OP__COUNT];  /* the no-store twin, or 0 */
static bool	facc_set[OP__COUNT]; /* the handler sets facc */
static uint16_t facc_read[OP__COUNT]; /* an f64 variant that reads facc:
				       * its plain form */

static int
hop_cmp(const void *a, const void *b)
{
	const struct hop *x = a, *y = b;

	return x->h < y->h ? -1 : x->h > y->h;
}

static int
op_of_handler(uint64_t h)
{
	size_t lo = 0, hi = OP__COUNT;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (hops[mid].h == h)
			return hops[mid].op;
		if (hops[mid].h < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void
post_init(void)
{
	static const uint16_t twins[][2] = {
		{ OP_I32_ADD, OP_I32_ADD_N },
		{ OP_I32_ADD_A, OP_I32_ADD_A_N },
		{ OP_I32_ADD_B, OP_I32_ADD_B_N },
		{ OP_I32_AND_I_A, OP_I32_AND_I_A_N },
		{ OP_I32_OR_B, OP_I32_OR_B_N },
		{ OP_I32_SHL_I, OP_I32_SHL_I_N },
		{ OP_I32_SHR_U_I, OP_I32_SHR_U_I_N },
		{ OP_I32_MAJ, OP_I32_MAJ_N },
		{ OP_I32_ANDN, OP_I32_ANDN_N },
		{ OP_I32_ROT2SHRX, OP_I32_ROT2SHRX_N },
		{ OP_I32_ADD_M_A, OP_I32_ADD_M_A_N },
		{ OP_F64_MULADD, OP_F64_MULADD_N },
		{ OP_F64_MULSUB, OP_F64_MULSUB_N },
		{ OP_F64_SQRT, OP_F64_SQRT_N },
		{ OP_F64_MUL_B, OP_F64_MUL_B_N },
		{ OP_F64_SQRT_A, OP_F64_SQRT_A_N },
		{ OP_F64_ADD_B, OP_F64_ADD_B_N },
		{ OP_I32_ADD_ANDN, OP_I32_ADD_ANDN_N },
		{ OP_I32_ADD_ANDN_A, OP_I32_ADD_ANDN_A_N },
		{ OP_I32_ADD_ROT2SHRX, OP_I32_ADD_ROT2SHRX_N },
		{ OP_I32_ADD3, OP_I32_ADD3_N },
		{ OP_I32_ADD3_AND, OP_I32_ADD3_AND_N },
		{ OP_I32_ROT3X_ADD3_AND, OP_I32_ROT3X_ADD3_AND_N },
		{ OP_I32_ADD_ROT2SHRX_LD, OP_I32_ADD_ROT2SHRX_LD_N },
		{ OP_SEL_I32_EQ, OP_SEL_I32_EQ_N },
		{ OP_SEL_I32_NE, OP_SEL_I32_NE_N },
		{ OP_SEL_I32_LT_S, OP_SEL_I32_LT_S_N },
		{ OP_SEL_I32_LT_U, OP_SEL_I32_LT_U_N },
		{ OP_SEL_I32_GT_S, OP_SEL_I32_GT_S_N },
		{ OP_SEL_I32_GT_U, OP_SEL_I32_GT_U_N },
		{ OP_SEL_I32_LE_S, OP_SEL_I32_LE_S_N },
		{ OP_SEL_I32_LE_U, OP_SEL_I32_LE_U_N },
		{ OP_SEL_I32_GE_S, OP_SEL_I32_GE_S_N },
		{ OP_SEL_I32_GE_U, OP_SEL_I32_GE_U_N },
	};
	/* every handler that sets facc (exec.c: FOP, MEMBF, the f64
	 * read-modify-writes, F64_MUL_MM, NSF) */
	static const uint16_t fset[] = {
		OP_F64_ADD, OP_F64_SUB, OP_F64_MUL, OP_F64_DIV,
		OP_F64_ADD_A, OP_F64_SUB_A, OP_F64_MUL_A, OP_F64_DIV_A,
		OP_F64_ADD_B, OP_F64_SUB_B, OP_F64_MUL_B, OP_F64_DIV_B,
		OP_F64_ADD_I, OP_F64_SUB_I, OP_F64_MUL_I, OP_F64_DIV_I,
		OP_F64_SQRT, OP_F64_CONVERT_I32_S, OP_F64_CONVERT_I32_U,
		OP_F64_MULADD, OP_F64_MULSUB, OP_F64_MULADD_A,
		OP_F64_MULSUB_A, OP_F64_MULSUB_RMW, OP_F64_MULADD_RMW,
		OP_F64_MULSUB_RMW_I, OP_F64_MULADD_RMW_I, OP_F64_ADD_RMW,
		OP_F64_ADD_RMW_A, OP_F64_MUL_MM,
		OP_F64_ADD_M, OP_F64_SUB_M, OP_F64_MUL_M, OP_F64_DIV_M,
		OP_F64_ADD_M_A, OP_F64_SUB_M_A, OP_F64_MUL_M_A,
		OP_F64_DIV_M_A,
		OP_F64_MULADD_N, OP_F64_MULSUB_N, OP_F64_SQRT_N,
		OP_F64_MUL_B_N, OP_F64_ADD_I_A, OP_F64_SUB_I_A,
		OP_F64_MUL_I_A, OP_F64_DIV_I_A, OP_F64_SQRT_A,
		OP_F64_SQRT_A_N, OP_F64_ADD_B_N,
	};
	/* the f64 variants that read facc, with their plain forms */
	static const uint16_t fread[][2] = {
		{ OP_F64_ADD_A, OP_F64_ADD }, { OP_F64_ADD_B, OP_F64_ADD },
		{ OP_F64_SUB_A, OP_F64_SUB }, { OP_F64_SUB_B, OP_F64_SUB },
		{ OP_F64_MUL_A, OP_F64_MUL }, { OP_F64_MUL_B, OP_F64_MUL },
		{ OP_F64_DIV_A, OP_F64_DIV }, { OP_F64_DIV_B, OP_F64_DIV },
		{ OP_F64_MULADD_A, OP_F64_MULADD },
		{ OP_F64_MULSUB_A, OP_F64_MULSUB },
		{ OP_F64_ADD_M_A, OP_F64_ADD_M },
		{ OP_F64_SUB_M_A, OP_F64_SUB_M },
		{ OP_F64_MUL_M_A, OP_F64_MUL_M },
		{ OP_F64_DIV_M_A, OP_F64_DIV_M },
		{ OP_F64_ADD_I_A, OP_F64_ADD_I }, { OP_F64_SUB_I_A, OP_F64_SUB_I },
		{ OP_F64_MUL_I_A, OP_F64_MUL_I }, { OP_F64_DIV_I_A, OP_F64_DIV_I },
		{ OP_F64_SQRT_A, OP_F64_SQRT },
	};

	for (int o = 0; o < OP__COUNT; o++) {
		hops[o].h = bt__wasm_handler(o);
		hops[o].op = (uint16_t)o;
	}
	qsort(hops, OP__COUNT, sizeof(hops[0]), hop_cmp);
	/* the acc variants of trick 4 name the slot in the cell of the
	 * operand they replace: a is cell 2, b cell 3, a store's value
	 * cell 2 */
	for (size_t i = 0; i < sizeof(acc_ops) / sizeof(acc_ops[0]); i++) {
		if (acc_ops[i].a != 0)
			acc_cell[acc_ops[i].a] = 2;
		if (acc_ops[i].b != 0)
			acc_cell[acc_ops[i].b] = acc_ops[i].op == OP_ST32 ||
			    acc_ops[i].op == OP_ST64 ? 2 : 3;
	}
	for (int o = OP_I32_ADD_M_A; o <= OP_F64_DIV_M_A; o++)
		acc_cell[o] = 2; /* (d, a, base, imm, off) */
	acc_cell[OP_F64_MULADD_A] = 2; /* (d, x, a, b) */
	acc_cell[OP_F64_MULSUB_A] = 2;
	for (size_t i = 0; i < sizeof(twins) / sizeof(twins[0]); i++)
		twin_of[twins[i][0]] = twins[i][1];
	for (size_t i = 0; i < sizeof(fset) / sizeof(fset[0]); i++)
		facc_set[fset[i]] = true;
	for (size_t i = 0; i < sizeof(fread) / sizeof(fread[0]); i++)
		facc_read[fread[i][0]] = fread[i][1];
}

void
bt__wasm_fuse_post(bt_wasm_module *m, uint32_t start, uint32_t nlocals)
{
	uint64_t *code = m->code;
	uint32_t pc = start, ppc = 0;
	int po = -1;

	while (pc < m->ncode) {
		int o = op_of_handler(code[pc]);
		uint64_t len;

		if (o < 0)
			return; /* cannot happen: the code is ours */
		len = o == OP_BR_TABLE ? 4 + code[pc + 2] : bt__wasm_op_len[o];
		if (po >= 0 && acc_cell[o] != 0) {
			uint64_t s = code[pc + acc_cell[o]];

			if (facc_read[o] != 0 && !facc_set[po]) {
				o = facc_read[o];
				code[pc] = bt__wasm_handler(o);
			} else if (twin_of[po] != 0 && s >= nlocals &&
			    code[ppc + 1] == s) {
				code[ppc] = bt__wasm_handler(twin_of[po]);
			}
		}
		po = o;
		ppc = pc;
		pc += (uint32_t)len;
	}
	/* Trick 21, on the code as rewritten above: an LD32_X2 and the
	 * select of its two values just after it become one handler at the
	 * load's place, the select still whole after it (see exec.c) */
	pc = start;
	po = -1;
	while (pc < m->ncode) {
		int o = op_of_handler(code[pc]);
		uint64_t len;
		int sel = -1;

		if (o < 0)
			return;
		len = o == OP_BR_TABLE ? 4 + code[pc + 2] : bt__wasm_op_len[o];
		if (o >= OP_SEL_I32_EQ && o <= OP_SEL_I32_GE_U)
			sel = o - OP_SEL_I32_EQ;
		else if (o >= OP_SEL_I32_EQ_N && o <= OP_SEL_I32_GE_U_N)
			sel = 10 + o - OP_SEL_I32_EQ_N;
		if (po == OP_LD32_X2 && sel >= 0) {
			const uint64_t *l = code + ppc, *k = code + pc;

			/* (d1 b i1 s off1 d2 i2 off2), (d a b k p q) */
			if (l[1] != l[6] && k[2] == l[1] && k[5] == l[1] &&
			    k[3] == l[6] && k[6] == l[6] && k[4] != l[1] &&
			    k[4] != l[6])
				code[ppc] = bt__wasm_handler(
				    OP_LDX2SEL_I32_EQ + sel);
		}
		po = o;
		ppc = pc;
		pc += (uint32_t)len;
	}
}

void
bt__wasm_fuse_calls(bt_wasm_module *m)
{
	uint64_t *code = m->code;
	uint32_t pc = 0;

	while (pc < m->ncode) {
		int o = op_of_handler(code[pc]);
		uint64_t len, fi;
		const struct wcode *w;

		if (o < 0)
			return; /* cannot happen: the code is ours */
		len = o == OP_BR_TABLE ? 4 + code[pc + 2] : bt__wasm_op_len[o];
		if (o == OP_CALL_D || o == OP_CALL_D_ADDI) {
			/* (func, frame, [dst, a, k,] code, frame end) */
			uint64_t *c = code + pc + len - 2;

			fi = code[pc + 1] / sizeof(bt_wasm_func) -
			    m->nfunc_imports;
			w = &m->codes[fi];
			c[0] = (uint64_t)((int64_t)w->start - (int64_t)pc);
			c[1] = code[pc + 2] + w->frame_slots;
		}
		pc += (uint32_t)len;
	}
}

/*
 * Trick 20: x + f(...) where f is majority, and-not or the xor of two
 * rotations and a shift (the fused bit functions of trick 16), computed
 * by the instruction just emitted into a stack temporary that only this
 * add reads: one instruction, which reads f's operands where f did (no
 * instruction lies between) and takes x from acc when the instruction
 * before f computed it (and-not; the fusions that make the other two
 * forget acc). SHA-2's rounds and message schedule add each of
 * these to a running sum.
 */
bool
bt__wasm_fuse_addf(struct wcomp *c, uint32_t h, uint32_t sa, uint32_t sb)
{
	static const uint16_t tab[][2] = {
		{ OP_I32_MAJ, OP_I32_ADD_MAJ },
		{ OP_I32_ANDN, OP_I32_ADD_ANDN },
		{ OP_I32_ROT2SHRX, OP_I32_ADD_ROT2SHRX },
	};
	bt_wasm_module *m = c->m;
	uint64_t f[4];
	uint32_t xi, xs, n;
	int fo = -1;

	if (c->oom || c->last_dst == NOFIX || m->nmap == 0 ||
	    m->map[m->nmap - 1].pc != c->last_start)
		return false;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (tab[i][0] == c->last_base)
			fo = tab[i][1];
	if (fo < 0)
		return false;
	if (c->last_h == h + 1 && c->vals[h + 1].kind == K_SLOT) {
		xi = h;
		xs = sa;
	} else if (c->last_h == h && c->vals[h].kind == K_SLOT) {
		xi = h + 1;
		xs = sb;
	} else {
		return false;
	}
	/* f's operands: the cells after its result */
	n = bt__wasm_op_len[c->last_base] - 2;
	if (c->last_start + 2 + n != m->ncode || n > 4)
		return false;
	memcpy(f, m->code + c->last_start + 2, n * sizeof(f[0]));
	unemit_last(c);
	if (fo == OP_I32_ADD_MAJ && f[0] != xs && f[1] != xs && f[2] != xs) {
		uint64_t r[4];

		if (bt__wasm_take_rot3x(c, c->seq_op, c->seq_start, xs, r)) {
			op(c, OP_I32_ROT3X_ADD_MAJ);
			cell(c, S(c, h));
			produced(c, h);
			for (int i = 0; i < 4; i++)
				cell(c, r[i]);
			for (uint32_t i = 0; i < n; i++)
				cell(c, f[i]);
			return true;
		}
	}
	if (fo == OP_I32_ADD_ROT2SHRX && c->seq_op >= 0 && m->nmap > 0 &&
	    c->seq_start >= c->label_pc) {
		/* trick 27: v loaded just before (LD32, LD32_I) */
		const uint64_t *l = m->code + c->seq_start;
		int plain;

		if (ld_kind(c->seq_op, &plain) == OP_LD32 &&
		    c->seq_start + bt__wasm_op_len[c->seq_op] == m->ncode &&
		    m->map[m->nmap - 1].pc == c->seq_start && l[1] == f[0]) {
			uint64_t base = l[2], imm = plain ? 0 : l[3];
			uint64_t off = plain ? l[3] : l[4];

			restart_at(c, c->seq_start, 1,
			    m->map[m->nmap - 1].off, OP_I32_ADD_ROT2SHRX_LD);
			cell(c, S(c, h));
			produced(c, h);
			cell(c, xs);
			cell(c, f[0]);
			cell(c, base);
			cell(c, imm);
			cell(c, off);
			cell(c, f[1]);
			cell(c, f[2]);
			cell(c, f[3]);
			return true;
		}
	}
	fo = bt__wasm_acc_variant(c, fo, xi, 0);
	op(c, fo);
	cell(c, S(c, h));
	produced(c, h);
	cell(c, xs);
	for (uint32_t i = 0; i < n; i++)
		cell(c, f[i]);
	return true;
}

/*
 * After bt__wasm_fuse_add: when the sum's third term (slot sc) is a stack
 * temporary that an i32.and just before computed, the and goes into the
 * sum too (I32_ADD3_AND, a + b + (p & q): SHA-2's h + Sigma1 + (e & f)).
 * Nothing lies between the and and the sum, and the and's operands are
 * neither sc nor the sum's other terms' slots' writers, so they still
 * hold their values. Returns true with the and's operands in *p and *q.
 */
bool
bt__wasm_fuse_add3_and(struct wcomp *c, uint32_t sc, uint32_t *p,
    uint32_t *q)
{
	bt_wasm_module *m = c->m;
	const uint64_t *ins;

	if (c->oom || c->seq_op < 0 || m->nmap == 0 ||
	    bt__wasm_base_of(c->seq_op) != OP_I32_AND ||
	    c->seq_start + 4 != m->ncode ||
	    m->map[m->nmap - 1].pc != c->seq_start || sc < c->nlocals)
		return false;
	ins = m->code + c->seq_start;
	if (ins[1] != sc)
		return false;
	*p = (uint32_t)ins[2];
	*q = (uint32_t)ins[3];
	/* unemit_last would remove the add fuse_add took: remove the and
	 * by hand (acc then holds nothing known) */
	m->ncode = c->seq_start;
	m->nmap--;
	forget(c);
	return true;
}

/*
 * Trick 22: i32.add of x and the product of two loads just emitted
 * (I32_MUL_MM, I32_MUL_MM16S, into a stack temporary) becomes
 * I32_MAC_MM[16S] (dst, x, the product's six operands): x + a*b. An
 * i32.add of a product of loads p and the sum such an instruction just
 * computed from the products after p becomes one instruction with one
 * more product, up to four (I32_MAC4_MM[16S]): an unrolled dot product,
 * whose wasm pushes the products, then the running sum, then adds them
 * from the top (p1 p2 p3 p4 s add add add add). The products keep the
 * order of their loads; the handler checks all of them before writing,
 * and each load keeps its own code offset in the map (at cell 3 + 6j and
 * 6 + 6j for the j-th product, the first one at the start). i32 sums
 * wrap, so the order of the additions does not matter.
 *
 * The product p is found without the history of the last instructions
 * (the fusions of its loads forget it): an I32_MUL_MM[16S] handler cell
 * 8 cells before the sum, not below the last label, with map entries at
 * its start and 5 cells in and the sum's entries right after. That is an
 * instruction start: every instruction has a map entry at its start, the
 * only entries inside instructions are those of its second loads
 * (MUL_MM: 5 cells in, 3 before its end; LD32_X2: 6 in, 3 before its
 * end; these: 6, 9, 12, ... in, 3 before the end), so no entry inside an
 * instruction lies 5 cells before another entry of it or before its end.
 */
static uint64_t
dot_k(const uint64_t *p)
{
	return (uint64_t)(uint32_t)p[1] + (uint32_t)p[2];
}

/*
 * The int16 DOT4 whose first (side 0) or second (side 1) factors are
 * the four int16 of 8 contiguous bytes, in any order, becomes
 * I32_DOT4CX_MM16S or I32_DOT4CY_MM16S (exec.c), which reads them with
 * one load. prod holds the four products in load order (base1, imm1,
 * off1, base2, imm2, off2), offs the eight loads' code offsets.
 */
static bool
dot4c(struct wcomp *c, uint32_t start, uint64_t prod[4][6],
    const uint32_t *offs, uint32_t h, uint32_t x)
{
	bt_wasm_module *m = c->m;

	for (int side = 0; side < 2; side++) {
		uint64_t lo = UINT64_MAX;
		int at[4] = { -1, -1, -1, -1 };
		bool ok = true;

		for (int j = 0; j < 4; j++)
			if (dot_k(prod[j] + 3 * side) < lo)
				lo = dot_k(prod[j] + 3 * side);
		for (int j = 0; j < 4 && ok; j++) {
			uint64_t d = dot_k(prod[j] + 3 * side) - lo;

			if (d % 2 != 0 || d > 6 || at[d / 2] >= 0)
				ok = false;
			else
				at[d / 2] = j;
		}
		if (!ok)
			continue;
		restart_at(c, start, 8, offs[0],
		    side == 0 ? OP_I32_DOT4CX_MM16S : OP_I32_DOT4CY_MM16S);
		cell(c, S(c, h));
		produced(c, h);
		cell(c, x);
		cell(c, prod[0][0]);
		cell(c, prod[0][3]);
		cell(c, lo);
		for (int i = 0; i < 4; i++)
			cell(c, dot_k(prod[at[i]] + 3 * (1 - side)));
		for (uint32_t i = 0; i < 8; i++) {
			const uint64_t *p = prod[i / 2] + 3 * (i % 2);

			if (i > 0)
				map_add(c, (uint32_t)m->ncode, offs[i]);
			cell(c, (uint64_t)(uint32_t)p[1] |
				(uint64_t)(uint32_t)p[2] << 32);
		}
		return true;
	}
	return false;
}

bool
bt__wasm_fuse_mac(struct wcomp *c, uint32_t h, uint32_t sa, uint32_t sb)
{
	bt_wasm_module *m = c->m;
	uint64_t prod[4][6];
	uint32_t offs[8], x, start, k;
	int kind;

	if (c->oom || c->last_dst == NOFIX || m->nmap < 2)
		return false;
	if (c->last_base == OP_I32_MUL_MM ||
	    c->last_base == OP_I32_MUL_MM16S) {
		/* x + a*b, the product just emitted */
		const uint64_t *ins = m->code + c->last_start;

		kind = c->last_base == OP_I32_MUL_MM ? OP_I32_MAC_MM :
						       OP_I32_MAC_MM16S;
		if (c->last_h == h + 1 && c->vals[h + 1].kind == K_SLOT)
			x = sa;
		else if (c->last_h == h && c->vals[h].kind == K_SLOT)
			x = sb;
		else
			return false;
		if (c->last_start + 8 != m->ncode ||
		    m->map[m->nmap - 2].pc != c->last_start ||
		    m->map[m->nmap - 1].pc != c->last_start + 5 ||
		    ins[1] != S(c, c->last_h) || x == ins[1])
			return false;
		memcpy(prod[0], ins + 2, sizeof(prod[0]));
		offs[0] = m->map[m->nmap - 2].off;
		offs[1] = m->map[m->nmap - 1].off;
		start = c->last_start;
		k = 1;
	} else if (c->last_base >= OP_I32_MAC_MM &&
	    c->last_base <= OP_I32_MAC4_MM16S) {
		/* p + (x + products), p the product just before */
		const uint64_t *ins = m->code + c->last_start, *pm;
		uint32_t kk, nm, ps;
		int mul;

		kind = c->last_base >= OP_I32_MAC_MM16S ? OP_I32_MAC_MM16S :
							  OP_I32_MAC_MM;
		kk = (uint32_t)(c->last_base - kind) + 1;
		mul = kind == OP_I32_MAC_MM ? OP_I32_MUL_MM : OP_I32_MUL_MM16S;
		nm = 2 + 2 * kk;
		ps = c->last_start - 8;
		if (kk >= 4 || c->last_start < 8 || ps < c->label_pc ||
		    c->last_start + 3 + 6 * kk != m->ncode ||
		    c->last_h != h + 1 || c->vals[h + 1].kind != K_SLOT ||
		    c->vals[h].kind != K_SLOT || m->nmap < nm ||
		    m->map[m->nmap - nm].pc != ps ||
		    m->map[m->nmap - nm + 1].pc != ps + 5 ||
		    m->map[m->nmap - nm + 2].pc != c->last_start ||
		    m->code[ps] != bt__wasm_handler(mul))
			return false;
		pm = m->code + ps;
		/* p's product wrote p's slot, which the sum after it neither
		 * read nor wrote */
		if (pm[1] != S(c, h) || ins[1] != S(c, h + 1) ||
		    ins[2] == S(c, h))
			return false;
		for (uint32_t j = 0; j < kk; j++)
			if (ins[3 + 6 * j] == S(c, h) ||
			    ins[6 + 6 * j] == S(c, h))
				return false;
		x = (uint32_t)ins[2];
		memcpy(prod[0], pm + 2, sizeof(prod[0]));
		memcpy(prod[1], ins + 3, kk * sizeof(prod[0]));
		for (uint32_t j = 0; j < nm; j++)
			offs[j] = m->map[m->nmap - nm + j].off;
		start = ps;
		k = kk + 1;
	} else {
		return false;
	}
	if (k == 4 && prod[1][0] == prod[0][0] && prod[2][0] == prod[0][0] &&
	    prod[3][0] == prod[0][0] && prod[1][3] == prod[0][3] &&
	    prod[2][3] == prod[0][3] && prod[3][3] == prod[0][3]) {
		/* one base for the first factors, one for the second */
		if (kind == OP_I32_MAC_MM16S &&
		    dot4c(c, start, prod, offs, h, x))
			return true;
		restart_at(c, start, 8, offs[0],
		    kind == OP_I32_MAC_MM ? OP_I32_DOT4_MM :
					    OP_I32_DOT4_MM16S);
		cell(c, S(c, h));
		produced(c, h);
		cell(c, x);
		cell(c, prod[0][0]);
		cell(c, prod[0][3]);
		for (uint32_t i = 0; i < 8; i++) {
			const uint64_t *p = prod[i / 2] + 3 * (i % 2);

			if (i > 0)
				map_add(c, (uint32_t)m->ncode, offs[i]);
			cell(c, (uint64_t)(uint32_t)p[1] + (uint32_t)p[2]);
		}
		for (uint32_t i = 0; i < 8; i++) {
			const uint64_t *p = prod[i / 2] + 3 * (i % 2);

			cell(c, (uint64_t)(uint32_t)p[1] |
				(uint64_t)(uint32_t)p[2] << 32);
		}
		return true;
	}
	restart_at(c, start, 2 * k, offs[0], kind + (int)k - 1);
	cell(c, S(c, h));
	produced(c, h);
	cell(c, x);
	for (uint32_t j = 0; j < k; j++) {
		if (j > 0)
			map_add(c, (uint32_t)m->ncode, offs[2 * j]);
		for (int i = 0; i < 3; i++)
			cell(c, prod[j][i]);
		map_add(c, (uint32_t)m->ncode, offs[2 * j + 1]);
		for (int i = 3; i < 6; i++)
			cell(c, prod[j][i]);
	}
	return true;
}

/*
 * Trick 24: x + v, then v + o, where v is a local that the first add
 * read from acc (I32_ADD_A, I32_ADD_B: its producer ran just before),
 * become I32_ADD2_A (d1, x, d2, o), which reads v from acc for both:
 * the second add no longer reads back from memory the value stored just
 * before (SHA-2's t1, added to both new working variables). v must be a
 * local (a stack temporary is read once), the first add must not write
 * v, and o must not be the first add's result.
 */
bool
bt__wasm_fuse_add2(struct wcomp *c, uint32_t h, uint32_t sa, uint32_t sb)
{
	bt_wasm_module *m = c->m;
	const uint64_t *ins;
	uint32_t v, x, d1, o;

	if (c->oom || m->nmap == 0 || (c->seq_op != OP_I32_ADD_A &&
					  c->seq_op != OP_I32_ADD_B) ||
	    c->seq_start + 4 != m->ncode ||
	    m->map[m->nmap - 1].pc != c->seq_start ||
	    c->seq_start < c->label_pc)
		return false;
	ins = m->code + c->seq_start;
	d1 = (uint32_t)ins[1];
	v = (uint32_t)(c->seq_op == OP_I32_ADD_A ? ins[2] : ins[3]);
	x = (uint32_t)(c->seq_op == OP_I32_ADD_A ? ins[3] : ins[2]);
	if (sa == v)
		o = sb;
	else if (sb == v)
		o = sa;
	else
		return false;
	if (v >= c->nlocals || d1 == v || o == d1)
		return false;
	restart_at(c, c->seq_start, 1, m->map[m->nmap - 1].off,
	    OP_I32_ADD2_A);
	cell(c, d1);
	cell(c, x);
	cell(c, S(c, h));
	produced(c, h);
	cell(c, o);
	return true;
}

/*
 * Trick 26: the xor of three rotations of one value (I32_ROT3X, trick 16)
 * into a stack temporary that the next instruction adds (x + maj(...),
 * x + y + (p & q): SHA-2's Sigma functions added into t1 and t2) is
 * computed by that instruction: I32_ROT3X_ADD_MAJ, I32_ROT3X_ADD3_AND.
 * The temporary is read once, by the add, so it need not be written.
 */
bool
bt__wasm_take_rot3x(struct wcomp *c, int o, uint32_t at, uint32_t slot,
    uint64_t out[4])
{
	bt_wasm_module *m = c->m;

	if (c->oom || o != OP_I32_ROT3X || at + 6 != m->ncode ||
	    m->nmap == 0 || m->map[m->nmap - 1].pc != at ||
	    at < c->label_pc || slot < c->nlocals ||
	    m->code[at + 1] != slot)
		return false;
	memcpy(out, m->code + at + 2, 4 * sizeof(out[0]));
	m->ncode = at;
	m->nmap--;
	forget(c);
	return true;
}
