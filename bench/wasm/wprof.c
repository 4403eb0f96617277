/*
 * bench/wasm/wprof.c: a tuning tool for the interpreter, not part of any
 * build. Runs a WASI command like `bt wasm run` and then prints the
 * threaded code of the hottest functions, each instruction with the number
 * of times it was dispatched, and a histogram of the instructions. It is
 * compiled together with the sources of src/wasm with -DBT_WASM_PROFILE,
 * which makes every dispatch call bt__wasm_prof:
 *
 *   sh bench/wasm/wprof.sh FILE.wasm [ARGS...]   (builds it in a temp dir)
 *
 * With WPROF_NORUN set it only lists the code of every function.
 *
 * Output: "ops" lines (instruction, dynamic count, share), then for the
 * hottest functions their code with counts per instruction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt/core.h"
#include "bt/os.h"
#include "bt/wasi.h"
#include "bt/wasm.h"
#include "wasm_int.h"

static const char *const op_names[OP__COUNT] = {
#define X(name, n) [OP_##name] = #name,
#include "ops.h"
#undef X
};

static const uint64_t *prof_base;
static uint64_t	      *prof_n;
static size_t	       prof_len;

void bt__wasm_prof(const uint64_t *pc);

void
bt__wasm_prof(const uint64_t *pc)
{
	if (prof_base != NULL && pc >= prof_base && pc < prof_base + prof_len)
		prof_n[pc - prof_base]++;
}

static int
op_of(uint64_t cell)
{
	for (int i = 0; i < OP__COUNT; i++)
		if (bt__wasm_handler(i) == cell)
			return i;
	return -1;
}

static size_t
ins_len(const uint64_t *pc, int o)
{
	if (o == OP_BR_TABLE)
		return 3 + (size_t)pc[2] + 1;
	return bt__wasm_op_len[o];
}

struct fhot {
	uint32_t fi;
	uint64_t n;
};

static int
fhot_cmp(const void *a, const void *b)
{
	const struct fhot *x = a, *y = b;

	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

int
main(int argc, char **argv)
{
	const bt_wasm_module *m;
	bt_wasm_module	     *mod;
	bt_wasm_linker	     *l;
	bt_wasm_instance     *inst;
	bt_wasm_wasi	     *w;
	struct bt_wasm_wasi_config wc;
	struct bt_diag	      diag;
	uint8_t		     *file;
	size_t		      len;
	int		      status = 0, rc, nshow;
	uint64_t	      hist[OP__COUNT] = { 0 }, tot = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: wprof FILE.wasm [ARGS...]\n");
		return 2;
	}
	nshow = getenv("WPROF_FUNCS") ? atoi(getenv("WPROF_FUNCS")) : 4;
	if (bt_os_read_file(argv[1], (size_t)1 << 30, &file, &len) != 0 ||
	    bt_wasm_module_new(&mod, file, len, &diag) != 0) {
		fprintf(stderr, "wprof: cannot load %s\n", argv[1]);
		return 1;
	}
	m = mod;
	prof_base = m->code;
	prof_len = m->ncode;
	prof_n = calloc(prof_len, sizeof(uint64_t));
	memset(&wc, 0, sizeof(wc));
	wc.version = 1;
	wc.argc = (size_t)argc - 1;
	wc.argv = (const char *const *)argv + 1;
	if (bt_wasm_linker_new(&l) != 0 || bt_wasm_wasi_link(l, NULL) != 0 ||
	    bt_wasm_wasi_new(&w, &wc, &diag) != 0 ||
	    bt_wasm_instance_new(&inst, m, l, NULL, &diag) != 0) {
		fprintf(stderr, "wprof: cannot instantiate\n");
		return 1;
	}
	bt_wasm_instance_set_user(inst, w);
	/* WPROF_NORUN: only list the code (of all functions) */
	if (getenv("WPROF_NORUN") != NULL) {
		rc = 0;
		nshow = (int)(m->nfuncs - m->nfunc_imports);
	} else {
		rc = bt_wasm_wasi_start(inst, &status);
	}
	fflush(stdout);
	fprintf(stderr, "wprof: rc %d status %d\n", rc, status);

	uint32_t	nf = m->nfuncs - m->nfunc_imports;
	struct fhot	*fh = calloc(nf ? nf : 1, sizeof(*fh));
	for (uint32_t f = 0; f < nf; f++) {
		uint32_t s = m->codes[f].start;
		uint32_t e = f + 1 < nf ? m->codes[f + 1].start :
					  (uint32_t)m->ncode;
		fh[f].fi = f;
		for (uint32_t pc = s; pc < e;) {
			int o = op_of(m->code[pc]);
			if (o < 0)
				break;
			fh[f].n += prof_n[pc];
			hist[o] += prof_n[pc];
			tot += prof_n[pc];
			pc += (uint32_t)ins_len(m->code + pc, o);
		}
	}
	fprintf(stderr, "total dispatches %llu\n", (unsigned long long)tot);
	for (int pass = 0; pass < 1; pass++) {
		int idx[OP__COUNT];
		for (int i = 0; i < OP__COUNT; i++)
			idx[i] = i;
		for (int i = 0; i < OP__COUNT; i++)
			for (int j = i + 1; j < OP__COUNT; j++)
				if (hist[idx[j]] > hist[idx[i]]) {
					int t = idx[i];
					idx[i] = idx[j];
					idx[j] = t;
				}
		for (int i = 0; i < OP__COUNT && hist[idx[i]] * 500 > tot; i++)
			fprintf(stderr, "ops %-20s %12llu %5.1f%%\n",
			    op_names[idx[i]], (unsigned long long)hist[idx[i]],
			    100.0 * (double)hist[idx[i]] / (double)tot);
	}
	/* pairs of instructions that follow each other in the code and
	 * ran equally often (so most likely in sequence): fusion candidates */
	if (getenv("WPROF_PAIRS") != NULL) {
		static uint64_t pair[OP__COUNT][OP__COUNT];
		int po = -1;
		uint64_t pn = 0;

		for (uint32_t pc = 0; pc < m->ncode;) {
			int o = op_of(m->code[pc]);
			if (o < 0)
				break;
			if (po >= 0 && prof_n[pc] == pn && pn > 0)
				pair[po][o] += pn;
			po = o;
			pn = prof_n[pc];
			pc += (uint32_t)ins_len(m->code + pc, o);
		}
		for (int k = 0; k < 40; k++) {
			uint64_t best = 0;
			int bi = 0, bj = 0;
			for (int i = 0; i < OP__COUNT; i++)
				for (int j = 0; j < OP__COUNT; j++)
					if (pair[i][j] > best) {
						best = pair[i][j];
						bi = i;
						bj = j;
					}
			if (best == 0)
				break;
			fprintf(stderr, "pair %-18s %-18s %12llu %5.1f%%\n",
			    op_names[bi], op_names[bj],
			    (unsigned long long)best,
			    100.0 * (double)best / (double)tot);
			pair[bi][bj] = 0;
		}
	}
	qsort(fh, nf, sizeof(*fh), fhot_cmp);
	for (int k = 0; k < nshow && (uint32_t)k < nf; k++) {
		uint32_t f = fh[k].fi;
		uint32_t s = m->codes[f].start;
		uint32_t e = f + 1 < nf ? m->codes[f + 1].start :
					  (uint32_t)m->ncode;
		fprintf(stderr, "\nfunc %u (%.1f%%) nlocals %u slots %u\n",
		    f + m->nfunc_imports, 100.0 * (double)fh[k].n / (double)tot,
		    m->codes[f].nlocals, m->codes[f].frame_slots);
		for (uint32_t pc = s; pc < e;) {
			int o = op_of(m->code[pc]);
			size_t n;
			if (o < 0)
				break;
			n = ins_len(m->code + pc, o);
			fprintf(stderr, "%10llu %6u %-16s",
			    (unsigned long long)prof_n[pc], pc - s, op_names[o]);
			for (size_t i = 1; i < n && i < 8; i++)
				fprintf(stderr, " %d", (int32_t)m->code[pc + i]);
			fprintf(stderr, "\n");
			pc += (uint32_t)n;
		}
	}
	return status;
}
