/*
 * cloudwarden.detect._ctscan: CloudTrail documents -> Arrow text columns, with no JSON in between.
 *
 * Why hand-written: a CloudTrail file is ONE JSON object, {"Records": [...]}, and what the loader needs is a
 * few text columns per record (some fields, a few members kept as minified JSON text, a few paths under
 * userIdentity). No library available to us turns that into Arrow columns directly: msgspec decodes into
 * Python objects (which then have to be encoded again, as JSON Lines, for DuckDB's read_json to parse a
 * second time), DuckDB's own reader takes one record per line or whole documents as one value, and the
 * Arrow/simdjson readers want JSON Lines too. That round trip is the loader's CPU bottleneck; this module
 * scans each document once, without the GIL, and hands DuckDB the columns through the Arrow C stream
 * interface (PyCapsule "arrow_array_stream").
 *
 * The input is attacker-influenced (log files), so the scanner is deliberately narrow. It validates the
 * WHOLE document as strict RFC 8259 JSON in UTF-8 (values of keys it does not keep included) and DECLINES
 * (Builder.add returns -1 and appends nothing) rather than guess when:
 *   - the bytes are not one JSON value followed only by whitespace; strings with raw control characters,
 *     bad escapes, invalid UTF-8 (overlong, surrogates, > U+10FFFF, truncated), an escaped \u0000, or a
 *     lone/unpaired surrogate escape; numbers outside -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?;
 *   - nesting deeper than 512;
 *   - the top-level value is not an object, has no "Records" key or has it twice, "Records" is not an
 *     array or is empty, or one of its elements is not an object;
 *   - a record lacks eventID, eventTime, eventSource or eventName, or has one of them null or not a string;
 *   - a kept key (field, member, "userIdentity" when identity paths are kept) appears twice in a record,
 *     or a kept identity path key appears twice in its object;
 *   - a kept field's value is an object or an array;
 *   - userIdentity is neither an object nor null, an intermediate object on a kept identity path is
 *     neither an object nor null, or a kept identity leaf is an object or an array.
 * A declined document goes to the slower Python path, which reports errors precisely: declining is always
 * safe, a wrong value is not.
 *
 * Memory: column buffers grow by doubling with every size computation checked for overflow (an allocation
 * failure is a MemoryError); the buffers live in a reference-counted Store shared (read-only once exported)
 * by the builder and by every Arrow stream, schema and array exported from it. Release callbacks may run on
 * any thread without the GIL: they only use libc (free, munmap) and C11 atomics, never Python.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h> /* mremap: Python.h's pyconfig.h defines _GNU_SOURCE on Linux */
#endif

/* ---------------------------------------------------------------------------------------------------- */
/* Arrow C data interface and C stream interface (as the specification gives them)                      */

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
    /* Array type description */
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;

    /* Release callback */
    void (*release)(struct ArrowSchema *);
    /* Opaque producer-specific data */
    void *private_data;
};

struct ArrowArray {
    /* Array data description */
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;

    /* Release callback */
    void (*release)(struct ArrowArray *);
    /* Opaque producer-specific data */
    void *private_data;
};

#endif /* ARROW_C_DATA_INTERFACE */

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

struct ArrowArrayStream {
    /* Callbacks providing stream functionality */
    int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
    int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
    const char *(*get_last_error)(struct ArrowArrayStream *);

    /* Release callback */
    void (*release)(struct ArrowArrayStream *);

    /* Opaque producer-specific data */
    void *private_data;
};

#endif /* ARROW_C_STREAM_INTERFACE */

/* ---------------------------------------------------------------------------------------------------- */
/* Limits and status codes                                                                              */

#define MAX_DEPTH 512          /* containers open at once (the top-level object is depth 1) */
#define MAX_COLUMNS 1024       /* text columns a builder may keep */
#define MAX_IDENTITY_LEVELS 3  /* segments in an identity path */
#define INITIAL_ROWS 64
#define INITIAL_DATA 64

/* Largest buffer we ever ask for: offsets are int64 and pointer differences must stay defined. */
#if PTRDIFF_MAX < INT64_MAX
#define MAX_BYTES ((size_t)PTRDIFF_MAX)
#else
#define MAX_BYTES ((size_t)INT64_MAX)
#endif

enum { ST_OK = 0, ST_DECLINE = 1, ST_NOMEM = 2 };

/* What a record gave a text column. */
enum { K_ABSENT = 0, K_NULL = 1, K_STRING = 2, K_OTHER = 3 };

/* ---------------------------------------------------------------------------------------------------- */
/* Store: the column buffers, shared by the builder and everything exported from it                     */

/* Buffers from MAP_MIN bytes on are anonymous mappings (on Linux), grown with mremap: growing never copies
   the bytes already written nor faults their pages in a second time, where realloc copies every heap chunk
   below glibc's adaptive mmap threshold (up to 32 MiB: most columns of a batch). Smaller buffers come from
   malloc. A buffer is mapped exactly when its capacity is >= MAP_MIN, so its capacity says how to grow and
   free it. Everything here is libc only: it runs without the GIL, on any thread. Define CTSCAN_NO_MMAP to
   use malloc only (sanitizer builds: AddressSanitizer checks the bounds of malloc'd buffers only). */
#if defined(__linux__) && defined(MREMAP_MAYMOVE) && !defined(CTSCAN_NO_MMAP)
#define MAP_MIN ((size_t)1 << 20)
#endif

static void buf_free(void *p, size_t cap) {
    if (p == NULL) return;
#ifdef MAP_MIN
    if (cap >= MAP_MIN) {
        munmap(p, cap);
        return;
    }
#else
    (void)cap;
#endif
    free(p);
}

/* Resizes the buffer *p of capacity *cap (0 when *p is NULL) to `want` > *cap bytes. */
static int buf_grow(void **p, size_t *cap, size_t want) {
    void *q;
#ifdef MAP_MIN
    if (want >= MAP_MIN) {
        if (*cap >= MAP_MIN) {
            q = mremap(*p, *cap, want, MREMAP_MAYMOVE);
            if (q == MAP_FAILED) return ST_NOMEM;
        } else {
            q = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (q == MAP_FAILED) return ST_NOMEM;
            if (*cap) memcpy(q, *p, *cap);
            free(*p);
        }
        *p = q;
        *cap = want;
        return ST_OK;
    }
#endif
    q = realloc(*p, want);
    if (q == NULL) return ST_NOMEM;
    *p = q;
    *cap = want;
    return ST_OK;
}

typedef struct {
    unsigned char *data; /* value bytes, never NULL */
    size_t len;
    size_t cap;
    int64_t *offsets; /* row_cap + 1 entries; offsets[0] == 0 */
    size_t off_cap;   /* bytes */
    uint8_t *valid;   /* (row_cap + 7) / 8 bytes, LSB-first validity bits */
    size_t valid_cap; /* bytes */
    int64_t null_count;
} TextCol;

typedef struct {
    atomic_size_t refs;
    int64_t rows;
    size_t row_cap; /* rows every per-row buffer has room for */
    size_t ncols;   /* text columns */
    TextCol *cols;
    int32_t *files; /* row_cap entries */
    size_t files_cap; /* bytes */
    char **names;   /* ncols + 1 child names (the last is "cloudwardenFile"), NUL-terminated */
} Store;

static void store_free(Store *st) {
    if (st == NULL) return;
    if (st->cols != NULL) {
        for (size_t i = 0; i < st->ncols; i++) {
            buf_free(st->cols[i].data, st->cols[i].cap);
            buf_free(st->cols[i].offsets, st->cols[i].off_cap);
            buf_free(st->cols[i].valid, st->cols[i].valid_cap);
        }
        free(st->cols);
    }
    if (st->names != NULL) {
        for (size_t i = 0; i < st->ncols + 1; i++) free(st->names[i]);
        free(st->names);
    }
    buf_free(st->files, st->files_cap);
    free(st);
}

static void store_incref(Store *st) { atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed); }

/* Safe without the GIL, from any thread: only atomics, free() and munmap(). */
static void store_decref(Store *st) {
    if (st == NULL) return;
    if (atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) == 1) store_free(st);
}

static size_t bitmap_bytes(size_t rows) { return rows / 8 + (rows % 8 != 0); }

/* Grow every per-row buffer so that `need` rows fit. A buffer grown before a later one failed keeps its
   (larger) capacity; row_cap only moves once all have room. */
static int store_reserve_rows(Store *st, size_t need) {
    if (need <= st->row_cap) return ST_OK;
    size_t cap = st->row_cap ? st->row_cap : INITIAL_ROWS;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return ST_NOMEM;
        cap *= 2;
    }
    /* offsets hold cap + 1 int64 entries: the largest of the per-row buffers */
    if (cap >= MAX_BYTES / sizeof(int64_t) - 1) return ST_NOMEM;
    size_t off_bytes = (cap + 1) * sizeof(int64_t);
    size_t valid_bytes = bitmap_bytes(cap);
    size_t file_bytes = cap * sizeof(int32_t);
    for (size_t i = 0; i < st->ncols; i++) {
        TextCol *c = &st->cols[i];
        if (c->off_cap < off_bytes && buf_grow((void **)&c->offsets, &c->off_cap, off_bytes)) return ST_NOMEM;
        if (c->valid_cap < valid_bytes) {
            size_t old = c->valid_cap;
            if (buf_grow((void **)&c->valid, &c->valid_cap, valid_bytes)) return ST_NOMEM;
            memset(c->valid + old, 0, valid_bytes - old); /* padding bits stay 0 */
        }
    }
    if (st->files_cap < file_bytes && buf_grow((void **)&st->files, &st->files_cap, file_bytes)) return ST_NOMEM;
    st->row_cap = cap;
    return ST_OK;
}

/* Make room for `extra` more bytes in a column's data buffer. */
static int col_reserve(TextCol *c, size_t extra) {
    if (extra > MAX_BYTES - c->len) return ST_NOMEM;
    size_t need = c->len + extra;
    if (need <= c->cap) return ST_OK;
    size_t cap = c->cap ? c->cap : INITIAL_DATA;
    while (cap < need) {
        if (cap > MAX_BYTES / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    return buf_grow((void **)&c->data, &c->cap, cap);
}

static int col_append(TextCol *c, const unsigned char *src, size_t n) {
    int r = col_reserve(c, n);
    if (r) return r;
    if (n) memcpy(c->data + c->len, src, n);
    c->len += n;
    return ST_OK;
}

static size_t store_nbytes(const Store *st) {
    size_t total = st->files_cap;
    for (size_t i = 0; i < st->ncols; i++) total += st->cols[i].cap + st->cols[i].off_cap + st->cols[i].valid_cap;
    return total;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Plan: which keys are kept, as which column (immutable after construction)                            */

enum { KEY_FIELD = 1, KEY_MEMBER = 2, KEY_IDENTITY = 3 };

typedef struct {
    const char *name; /* points into Store.names, or a literal */
    size_t len;
    int kind;
    int col;
} KeyEntry;

typedef struct {
    char *name; /* owned */
    size_t len;
    int first_child; /* -1: none */
    int next_sibling;
    int col; /* text column when a leaf, else -1 */
} INode;

/* A member's scope (see Builder's `scopes`): the rows whose tested field is among the values. */
typedef struct {
    int col;     /* the field column tested (eventName, eventSource, ...) */
    int lower;   /* compare its value lower-cased, as SQL's lower() */
    size_t nvalues;
    char **values; /* owned, UTF-8 */
    size_t *lens;
} ScopeTest;

typedef struct {
    int scoped; /* 0: the member is kept on every row */
    size_t ntests;
    ScopeTest *tests;
} MemberScope;

typedef struct {
    size_t nfields, nmembers, nident, ncols;
    MemberScope *scopes; /* ncols entries; only the members' may be scoped */
    KeyEntry *keys;
    size_t nkeys;
    int32_t *slots; /* hash table of key index + 1; 0 = empty */
    size_t mask;
    int required[4];
    INode *nodes; /* nodes[0] is userIdentity itself */
    size_t nnodes;
} Plan;

/* A cheap hash of a key (its length and three of its bytes): record keys are looked up by the million.
   Keys that collide only cost a longer probe, bounded by the number of kept keys. */
static inline uint32_t hash_bytes(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    uint32_t h = (uint32_t)n * 0x9E3779B1u;
    h ^= (uint32_t)s[0] * 0x85EBCA77u;
    h ^= (uint32_t)s[n - 1] * 0xC2B2AE3Du;
    h ^= (uint32_t)s[n / 2] * 0x27D4EB2Fu;
    return h ^ (h >> 15);
}

static const KeyEntry *plan_lookup(const Plan *pl, const unsigned char *k, size_t n) {
    size_t i = hash_bytes(k, n) & pl->mask;
    for (;;) {
        int32_t slot = pl->slots[i];
        if (slot == 0) return NULL;
        const KeyEntry *e = &pl->keys[slot - 1];
        if (e->len == n && memcmp(e->name, k, n) == 0) return e;
        i = (i + 1) & pl->mask;
    }
}

static void plan_free(Plan *pl) {
    if (pl == NULL) return;
    if (pl->scopes != NULL) {
        for (size_t i = 0; i < pl->ncols; i++) {
            MemberScope *ms = &pl->scopes[i];
            for (size_t t = 0; t < ms->ntests; t++) {
                ScopeTest *st = &ms->tests[t];
                if (st->values != NULL) {
                    for (size_t v = 0; v < st->nvalues; v++) free(st->values[v]);
                }
                free(st->values);
                free(st->lens);
            }
            free(ms->tests);
        }
        free(pl->scopes);
    }
    free(pl->keys);
    free(pl->slots);
    if (pl->nodes != NULL) {
        for (size_t i = 0; i < pl->nnodes; i++) free(pl->nodes[i].name);
        free(pl->nodes);
    }
    free(pl);
}

/* ---------------------------------------------------------------------------------------------------- */
/* The scanner                                                                                           */

typedef struct {
    const unsigned char *start;
    size_t n;
    int ws; /* whitespace between its tokens */
} Span;

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
    int ws; /* set whenever whitespace between tokens was skipped */
    Store *st;
    const Plan *pl;
    uint8_t *ckind;  /* per text column: what the current record gave it */
    uint8_t *nseen;  /* per identity node: key seen in its object in the current record */
    unsigned char *scratch; /* unescaped keys */
    size_t scratch_cap;
    int32_t file;
    Span *spans; /* per text column: where the current record's member value lies in the document */
} Ctx;

/* 0 for bytes a string can hold as they are: printable ASCII except '"' and '\\'. */
static unsigned char special[256];

static void init_tables(void) {
    for (int c = 0; c < 256; c++) special[c] = (c < 0x20 || c >= 0x80 || c == '"' || c == '\\');
}

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* The high bit of each of the 8 bytes that may be special (no false negatives). The lowest one set is exact:
   these tests only raise false flags above a byte that is special (a borrow travels upwards). */
static inline uint64_t block_special(uint64_t v) {
    uint64_t q = v ^ (ONES * '"');
    uint64_t b = v ^ (ONES * '\\');
    uint64_t t = ((q - ONES) & ~q) | ((b - ONES) & ~b) | ((v - ONES * 0x20) & ~v) | v;
    return t & HIGHS;
}

static inline void skip_ws(Ctx *c) {
    const unsigned char *p = c->p;
    while (p < c->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    if (p != c->p) c->ws = 1;
    c->p = p;
}

static inline int hex4(const unsigned char *p, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char ch = p[i];
        uint32_t d;
        if (ch >= '0' && ch <= '9') d = (uint32_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') d = (uint32_t)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F') d = (uint32_t)(ch - 'A' + 10);
        else return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

/* Length of the valid UTF-8 sequence at p (p[0] >= 0x80), 0 when invalid (Unicode Table 3-7). */
static inline size_t utf8_seq(const unsigned char *p, const unsigned char *e) {
    size_t avail = (size_t)(e - p);
    unsigned char c0 = p[0];
    if (c0 >= 0xC2 && c0 <= 0xDF) {
        return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    }
    if (c0 >= 0xE0 && c0 <= 0xEF) {
        if (avail < 3) return 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c0 == 0xE0) lo = 0xA0;      /* no overlongs */
        else if (c0 == 0xED) hi = 0x9F; /* no surrogates */
        return (p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80) ? 3 : 0;
    }
    if (c0 >= 0xF0 && c0 <= 0xF4) {
        if (avail < 4) return 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c0 == 0xF0) lo = 0x90;      /* no overlongs */
        else if (c0 == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
        return (p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80) ? 4 : 0;
    }
    return 0;
}

/* Reads the \uXXXX escape(s) at p (p[0] == '\\', p[1] == 'u'): a code point that is not U+0000 and not a
   surrogate, a high surrogate being followed by a low one. Returns the bytes read, 0 when invalid. */
static inline size_t read_u_escape(const unsigned char *p, const unsigned char *e, uint32_t *cp) {
    uint32_t u, lo;
    if (e - p < 6 || !hex4(p + 2, &u)) return 0;
    if (u == 0 || (u >= 0xDC00 && u <= 0xDFFF)) return 0;
    if (u < 0xD800 || u > 0xDBFF) {
        *cp = u;
        return 6;
    }
    if (e - p < 12 || p[6] != '\\' || p[7] != 'u' || !hex4(p + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF) return 0;
    *cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
    return 12;
}

/* The first special byte (see `special`) at or after p, or e: eight bytes at a time. On a little-endian
   machine the first flagged byte of a block is the answer (see block_special); elsewhere bytes are read one by
   one from the block that flagged. (An SSE2 version, 16 at a time, measured ~15% slower on CloudTrail's short
   strings.) */
static inline const unsigned char *find_special(const unsigned char *p, const unsigned char *e) {
    while (e - p >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        uint64_t m = block_special(v);
        if (m) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return p + (__builtin_ctzll(m) >> 3);
#else
            break;
#endif
        }
        p += 8;
    }
    while (p < e && !special[*p]) p++;
    return p;
}

/* Validates the string at c->p (which is '"'). On success c->p is past the closing quote, the bytes
   between the quotes are [*body, *body + *blen) and *esc says whether they hold a backslash. */
static int scan_string(Ctx *c, const unsigned char **body, size_t *blen, int *esc) {
    const unsigned char *start = c->p + 1;
    const unsigned char *p = start, *e = c->end;
    int has_esc = 0;
    for (;;) {
        p = find_special(p, e);
        if (p >= e) return ST_DECLINE;
        unsigned char ch = *p;
        if (ch == '"') break;
        if (ch == '\\') {
            has_esc = 1;
            if (e - p < 2) return ST_DECLINE;
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                p += 2;
                continue;
            case 'u': {
                uint32_t cp;
                size_t n = read_u_escape(p, e, &cp);
                if (n == 0) return ST_DECLINE;
                p += n;
                continue;
            }
            default:
                return ST_DECLINE;
            }
        }
        if (ch < 0x80) return ST_DECLINE; /* a raw control character */
        size_t n = utf8_seq(p, e);
        if (n == 0) return ST_DECLINE;
        p += n;
    }
    *body = start;
    *blen = (size_t)(p - start);
    *esc = has_esc;
    c->p = p + 1;
    return ST_OK;
}

/* Unescapes n validated string bytes into out (room for n bytes: unescaping never grows text).
   Returns the bytes written, or (size_t)-1 if the text is not what scan_string accepted. */
static size_t unescape(unsigned char *out, const unsigned char *p, size_t n) {
    const unsigned char *e = p + n;
    unsigned char *o = out;
    while (p < e) {
        const unsigned char *q = memchr(p, '\\', (size_t)(e - p));
        if (q == NULL) q = e;
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        p = q;
        if (p >= e) break;
        if (e - p < 2) return (size_t)-1;
        switch (p[1]) {
        case '"': *o++ = '"'; p += 2; break;
        case '\\': *o++ = '\\'; p += 2; break;
        case '/': *o++ = '/'; p += 2; break;
        case 'b': *o++ = '\b'; p += 2; break;
        case 'f': *o++ = '\f'; p += 2; break;
        case 'n': *o++ = '\n'; p += 2; break;
        case 'r': *o++ = '\r'; p += 2; break;
        case 't': *o++ = '\t'; p += 2; break;
        case 'u': {
            uint32_t cp;
            size_t k = read_u_escape(p, e, &cp);
            if (k == 0) return (size_t)-1;
            p += k;
            if (cp < 0x80) {
                *o++ = (unsigned char)cp;
            } else if (cp < 0x800) {
                *o++ = (unsigned char)(0xC0 | (cp >> 6));
                *o++ = (unsigned char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *o++ = (unsigned char)(0xE0 | (cp >> 12));
                *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (unsigned char)(0x80 | (cp & 0x3F));
            } else {
                *o++ = (unsigned char)(0xF0 | (cp >> 18));
                *o++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
                *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                *o++ = (unsigned char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default:
            return (size_t)-1;
        }
    }
    return (size_t)(o - out);
}

static inline int is_digit(unsigned char ch) { return ch >= '0' && ch <= '9'; }

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at c->p. */
static int scan_number(Ctx *c) {
    const unsigned char *p = c->p, *e = c->end;
    if (p < e && *p == '-') p++;
    if (p >= e) return ST_DECLINE;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        p++;
        while (p < e && is_digit(*p)) p++;
    } else {
        return ST_DECLINE;
    }
    if (p < e && *p == '.') {
        p++;
        if (p >= e || !is_digit(*p)) return ST_DECLINE;
        while (p < e && is_digit(*p)) p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || !is_digit(*p)) return ST_DECLINE;
        while (p < e && is_digit(*p)) p++;
    }
    c->p = p;
    return ST_OK;
}

static inline int scan_literal(Ctx *c, const char *lit, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0) return ST_DECLINE;
    c->p += n;
    return ST_OK;
}

/* After a container's member: 1 past a ',' (another follows), 0 past `close` (the container ended), -1 on
   anything else. Whitespace around either is skipped. */
static inline int next_member(Ctx *c, unsigned char close) {
    skip_ws(c);
    if (c->p >= c->end) return -1;
    if (*c->p == ',') {
        c->p++;
        skip_ws(c);
        return 1;
    }
    if (*c->p == close) {
        c->p++;
        return 0;
    }
    return -1;
}

static int skip_value(Ctx *c, int parent_depth);

/* The object at c->p ('{'), at depth `depth`: validated, nothing kept. */
static int skip_object(Ctx *c, int depth) {
    if (depth > MAX_DEPTH) return ST_DECLINE;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return ST_OK;
    }
    for (;;) {
        const unsigned char *k;
        size_t kn;
        int esc, r;
        if (c->p >= c->end || *c->p != '"') return ST_DECLINE;
        if ((r = scan_string(c, &k, &kn, &esc))) return r;
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') return ST_DECLINE;
        c->p++;
        skip_ws(c);
        if ((r = skip_value(c, depth))) return r;
        if ((r = next_member(c, '}')) <= 0) return r < 0 ? ST_DECLINE : ST_OK;
    }
}

static int skip_array(Ctx *c, int depth) {
    if (depth > MAX_DEPTH) return ST_DECLINE;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        return ST_OK;
    }
    for (;;) {
        int r;
        if ((r = skip_value(c, depth))) return r;
        if ((r = next_member(c, ']')) <= 0) return r < 0 ? ST_DECLINE : ST_OK;
    }
}

/* The value at c->p (whitespace before it already skipped), inside `parent_depth` open containers. */
static int skip_value(Ctx *c, int parent_depth) {
    if (c->p >= c->end) return ST_DECLINE;
    switch (*c->p) {
    case '{':
        return skip_object(c, parent_depth + 1);
    case '[':
        return skip_array(c, parent_depth + 1);
    case '"': {
        const unsigned char *b;
        size_t n;
        int esc;
        return scan_string(c, &b, &n, &esc);
    }
    case 't':
        return scan_literal(c, "true", 4);
    case 'f':
        return scan_literal(c, "false", 5);
    case 'n':
        return scan_literal(c, "null", 4);
    default:
        return scan_number(c);
    }
}

/* Reads an object key at c->p and the ':' after it; *k and *kn hold the key's unescaped text. */
static int read_key(Ctx *c, const unsigned char **k, size_t *kn) {
    const unsigned char *b;
    size_t n;
    int esc, r;
    if (c->p >= c->end || *c->p != '"') return ST_DECLINE;
    if ((r = scan_string(c, &b, &n, &esc))) return r;
    if (esc) {
        if (n > c->scratch_cap) {
            size_t cap = c->scratch_cap ? c->scratch_cap : 64;
            while (cap < n) {
                if (cap > MAX_BYTES / 2) return ST_NOMEM;
                cap *= 2;
            }
            unsigned char *s = realloc(c->scratch, cap);
            if (s == NULL) return ST_NOMEM;
            c->scratch = s;
            c->scratch_cap = cap;
        }
        size_t m = unescape(c->scratch, b, n);
        if (m == (size_t)-1) return ST_DECLINE;
        *k = c->scratch;
        *kn = m;
    } else {
        *k = b;
        *kn = n;
    }
    skip_ws(c);
    if (c->p >= c->end || *c->p != ':') return ST_DECLINE;
    c->p++;
    skip_ws(c);
    return ST_OK;
}

/* DuckDB's JSON reader writes a number read into a text column in its own form: 1.50 as "1.5", 1E5 as
 * "100000.0", an integer past 64 bits as a double. Only an integer it keeps as written (no fraction, no
 * exponent, no "-0", at most 18 digits) is taken here; any other number in a kept text value declines the
 * document, so that the JSON Lines path gives the value exactly as before. */
static int plain_integer(const unsigned char *s, size_t n) {
    size_t digits = n - (n > 0 && s[0] == '-');
    if (digits == 0 || digits > 18) return 0;
    if (n == 2 && s[0] == '-' && s[1] == '0') return 0;
    for (size_t i = n - digits; i < n; i++)
        if (!is_digit(s[i])) return 0;
    return 1;
}

/* A kept scalar (field or identity leaf) into column `col`. */
static int put_scalar(Ctx *c, size_t col) {
    TextCol *tc = &c->st->cols[col];
    const unsigned char *start = c->p;
    int r;
    if (c->p >= c->end) return ST_DECLINE;
    switch (*c->p) {
    case '"': {
        const unsigned char *b;
        size_t n;
        int esc;
        if ((r = scan_string(c, &b, &n, &esc))) return r;
        if (!esc) {
            if ((r = col_append(tc, b, n))) return r;
        } else {
            if ((r = col_reserve(tc, n))) return r;
            size_t m = unescape(tc->data + tc->len, b, n);
            if (m == (size_t)-1) return ST_DECLINE;
            tc->len += m;
        }
        c->ckind[col] = K_STRING;
        return ST_OK;
    }
    case 'n':
        if ((r = scan_literal(c, "null", 4))) return r;
        c->ckind[col] = K_NULL;
        return ST_OK;
    case 't':
        if ((r = scan_literal(c, "true", 4))) return r;
        break;
    case 'f':
        if ((r = scan_literal(c, "false", 5))) return r;
        break;
    case '{':
    case '[':
        return ST_DECLINE;
    default:
        if ((r = scan_number(c))) return r;
        if (!plain_integer(start, (size_t)(c->p - start))) return ST_DECLINE;
        break;
    }
    if ((r = col_append(tc, start, (size_t)(c->p - start)))) return r;
    c->ckind[col] = K_OTHER;
    return ST_OK;
}

/* A kept member: validated, and where it lies noted (null -> NULL). Its text is copied once the record is
   read whole (copy_member), and only when the record is in the member's scope. */
static int put_member(Ctx *c, size_t col, int parent_depth) {
    const unsigned char *start = c->p;
    int r;
    if (c->p < c->end && *c->p == 'n') {
        if ((r = scan_literal(c, "null", 4))) return r;
        c->ckind[col] = K_NULL;
        return ST_OK;
    }
    c->ws = 0;
    if ((r = skip_value(c, parent_depth))) return r;
    c->spans[col].start = start;
    c->spans[col].n = (size_t)(c->p - start);
    c->spans[col].ws = c->ws;
    c->ckind[col] = K_OTHER;
    return ST_OK;
}

/* A member's minified JSON text into column `col`: its validated span with the whitespace outside strings
   dropped. */
static int copy_member(Ctx *c, size_t col) {
    TextCol *tc = &c->st->cols[col];
    const Span *sp = &c->spans[col];
    int r;
    if (!sp->ws) return col_append(tc, sp->start, sp->n);
    if ((r = col_reserve(tc, sp->n))) return r;
    unsigned char *o = tc->data + tc->len;
    const unsigned char *p = sp->start, *e = sp->start + sp->n;
    int in_str = 0;
    while (p < e) {
        unsigned char ch = *p++;
        if (in_str) {
            *o++ = ch;
            if (ch == '\\') {
                if (p < e) *o++ = *p++;
            } else if (ch == '"') {
                in_str = 0;
            }
        } else if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
            continue;
        } else {
            *o++ = ch;
            if (ch == '"') in_str = 1;
        }
    }
    tc->len = (size_t)(o - tc->data);
    return ST_OK;
}

/* Whether the current record (row `row`, its fields already appended) may be in member scope `ms`. Exact
   where it can be; where it cannot (a tested value that is not a string, or not ASCII under lower()), it
   says yes: the SQL that reads the columns applies the scope again, exactly. */
static int in_scope(const Ctx *c, const MemberScope *ms, size_t row) {
    for (size_t t = 0; t < ms->ntests; t++) {
        const ScopeTest *test = &ms->tests[t];
        if (c->ckind[test->col] != K_STRING) return 1;
        const TextCol *tc = &c->st->cols[test->col];
        const unsigned char *v = tc->data + tc->offsets[row];
        size_t n = tc->len - (size_t)tc->offsets[row];
        if (test->lower) {
            for (size_t k = 0; k < n; k++) {
                if (v[k] >= 0x80) return 1;
            }
        }
        for (size_t j = 0; j < test->nvalues; j++) {
            if (test->lens[j] != n) continue;
            const unsigned char *w = (const unsigned char *)test->values[j];
            if (!test->lower) {
                if (memcmp(v, w, n) == 0) return 1;
                continue;
            }
            size_t k = 0;
            while (k < n) {
                unsigned char ch = v[k];
                if (ch >= 'A' && ch <= 'Z') ch = (unsigned char)(ch - 'A' + 'a');
                if (ch != w[k]) break;
                k++;
            }
            if (k == n) return 1;
        }
    }
    return 0;
}

/* The object at c->p ('{') under identity node `node`, at depth `depth`. */
static int scan_identity(Ctx *c, int node, int depth) {
    const Plan *pl = c->pl;
    int r, more;
    if (depth > MAX_DEPTH) return ST_DECLINE;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return ST_OK;
    }
    do {
        const unsigned char *k;
        size_t kn;
        if ((r = read_key(c, &k, &kn))) return r;
        int ch = pl->nodes[node].first_child;
        while (ch >= 0 && !(pl->nodes[ch].len == kn && memcmp(pl->nodes[ch].name, k, kn) == 0)) {
            ch = pl->nodes[ch].next_sibling;
        }
        if (ch < 0) {
            if ((r = skip_value(c, depth))) return r;
        } else {
            if (c->nseen[ch]) return ST_DECLINE;
            c->nseen[ch] = 1;
            if (pl->nodes[ch].col >= 0) {
                if ((r = put_scalar(c, (size_t)pl->nodes[ch].col))) return r;
            } else if (c->p < c->end && *c->p == 'n') {
                if ((r = scan_literal(c, "null", 4))) return r;
            } else if (c->p < c->end && *c->p == '{') {
                if ((r = scan_identity(c, ch, depth + 1))) return r;
            } else {
                return ST_DECLINE;
            }
        }
        more = next_member(c, '}');
        if (more < 0) return ST_DECLINE;
    } while (more);
    return ST_OK;
}

/* The record at c->p ('{'), at depth 3: one row. */
static int scan_record(Ctx *c) {
    const Plan *pl = c->pl;
    Store *st = c->st;
    int r, more, ui_seen = 0;
    const int depth = 3;
    memset(c->ckind, K_ABSENT, pl->ncols);
    if (pl->nnodes) memset(c->nseen, 0, pl->nnodes);
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        more = 0;
    } else {
        more = 1;
    }
    while (more) {
        const unsigned char *k;
        size_t kn;
        if ((r = read_key(c, &k, &kn))) return r;
        const KeyEntry *ke = plan_lookup(pl, k, kn);
        if (ke == NULL) {
            if ((r = skip_value(c, depth))) return r;
        } else if (ke->kind == KEY_FIELD) {
            if (c->ckind[ke->col] != K_ABSENT) return ST_DECLINE;
            if ((r = put_scalar(c, (size_t)ke->col))) return r;
        } else if (ke->kind == KEY_MEMBER) {
            if (c->ckind[ke->col] != K_ABSENT) return ST_DECLINE;
            if ((r = put_member(c, (size_t)ke->col, depth))) return r;
        } else { /* KEY_IDENTITY */
            if (ui_seen) return ST_DECLINE;
            ui_seen = 1;
            if (c->p < c->end && *c->p == 'n') {
                if ((r = scan_literal(c, "null", 4))) return r;
            } else if (c->p < c->end && *c->p == '{') {
                if ((r = scan_identity(c, 0, depth + 1))) return r;
            } else {
                return ST_DECLINE;
            }
        }
        more = next_member(c, '}');
        if (more < 0) return ST_DECLINE;
    }
    for (int i = 0; i < 4; i++) {
        if (c->ckind[pl->required[i]] != K_STRING) return ST_DECLINE;
    }
    if (st->rows == INT64_MAX) return ST_NOMEM;
    size_t row = (size_t)st->rows;
    for (size_t i = pl->nfields; i < pl->nfields + pl->nmembers; i++) {
        if (c->ckind[i] != K_OTHER) continue;
        if (pl->scopes[i].scoped && !in_scope(c, &pl->scopes[i], row)) {
            c->ckind[i] = K_NULL; /* outside the member's scope: the SQL would make it NULL anyway */
            continue;
        }
        if ((r = copy_member(c, i))) return r;
    }
    if ((r = store_reserve_rows(st, row + 1))) return r;
    uint8_t bit = (uint8_t)(1u << (row % 8));
    for (size_t i = 0; i < pl->ncols; i++) {
        TextCol *tc = &st->cols[i];
        if (c->ckind[i] == K_ABSENT || c->ckind[i] == K_NULL) {
            tc->valid[row / 8] &= (uint8_t)~bit;
            tc->null_count++;
        } else {
            tc->valid[row / 8] |= bit;
        }
        tc->offsets[row + 1] = (int64_t)tc->len;
    }
    st->files[row] = c->file;
    st->rows++;
    return ST_OK;
}

/* The whole document. *count: records appended. */
static int scan_document(Ctx *c, int64_t *count) {
    int r, more, seen = 0;
    *count = 0;
    skip_ws(c);
    if (c->p >= c->end || *c->p != '{') return ST_DECLINE;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') return ST_DECLINE; /* no "Records" */
    do {
        const unsigned char *k;
        size_t kn;
        if ((r = read_key(c, &k, &kn))) return r;
        if (kn == 7 && memcmp(k, "Records", 7) == 0) {
            if (seen) return ST_DECLINE;
            seen = 1;
            if (c->p >= c->end || *c->p != '[') return ST_DECLINE;
            c->p++; /* the array, depth 2 */
            skip_ws(c);
            if (c->p < c->end && *c->p == ']') return ST_DECLINE; /* empty */
            for (;;) {
                if (c->p >= c->end || *c->p != '{') return ST_DECLINE;
                if ((r = scan_record(c))) return r;
                (*count)++;
                if ((r = next_member(c, ']')) < 0) return ST_DECLINE;
                if (r == 0) break;
            }
        } else if ((r = skip_value(c, 1))) {
            return r;
        }
        more = next_member(c, '}');
        if (more < 0) return ST_DECLINE;
    } while (more);
    skip_ws(c);
    if (c->p != c->end || !seen) return ST_DECLINE;
    return ST_OK;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Arrow export                                                                                          */

static const char *const ERR_NOMEM_TEXT = "cloudwarden _ctscan: out of memory";

typedef struct {
    Store *st;
    int done;
    const char *last_error;
} StreamPriv;

typedef struct {
    Store *st;
    struct ArrowSchema *kids;
    struct ArrowSchema **ptrs;
} SchemaPriv;

typedef struct {
    Store *st;
    struct ArrowArray *kids;
    struct ArrowArray **ptrs;
    const void *bufs[1];
} ArrayPriv;

typedef struct {
    Store *st;
    const void *bufs[3];
} ChildPriv;

/* Child schemas hold a Store reference (their names live in the Store). The struct itself belongs to the
   parent's children block: a child's release never frees it. */
static void child_schema_release(struct ArrowSchema *s) {
    if (s == NULL || s->release == NULL) return;
    store_decref((Store *)s->private_data);
    s->private_data = NULL;
    s->release = NULL;
}

static void schema_release(struct ArrowSchema *s) {
    if (s == NULL || s->release == NULL) return;
    SchemaPriv *pv = (SchemaPriv *)s->private_data;
    for (int64_t i = 0; i < s->n_children; i++) {
        struct ArrowSchema *ch = pv->ptrs[i];
        if (ch != NULL && ch->release != NULL) ch->release(ch); /* not moved out by the consumer */
    }
    free(pv->kids);
    free(pv->ptrs);
    store_decref(pv->st);
    free(pv);
    s->private_data = NULL;
    s->release = NULL;
}

static int export_schema(Store *st, struct ArrowSchema *out) {
    size_t n = st->ncols + 1;
    SchemaPriv *pv = calloc(1, sizeof(SchemaPriv));
    struct ArrowSchema *kids = calloc(n, sizeof(struct ArrowSchema));
    struct ArrowSchema **ptrs = calloc(n, sizeof(struct ArrowSchema *));
    if (pv == NULL || kids == NULL || ptrs == NULL) {
        free(pv);
        free(kids);
        free(ptrs);
        return ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct ArrowSchema *ch = &kids[i];
        int text = i < st->ncols;
        ch->format = text ? "U" : "i";
        ch->name = st->names[i];
        ch->metadata = NULL;
        ch->flags = text ? ARROW_FLAG_NULLABLE : 0;
        ch->n_children = 0;
        ch->children = NULL;
        ch->dictionary = NULL;
        ch->release = child_schema_release;
        store_incref(st);
        ch->private_data = st;
        ptrs[i] = ch;
    }
    store_incref(st);
    pv->st = st;
    pv->kids = kids;
    pv->ptrs = ptrs;
    out->format = "+s";
    out->name = "";
    out->metadata = NULL;
    out->flags = 0;
    out->n_children = (int64_t)n;
    out->children = ptrs;
    out->dictionary = NULL;
    out->release = schema_release;
    out->private_data = pv;
    return 0;
}

/* Each child array owns its ChildPriv (its buffers array lives there) and a Store reference, so a child
   moved out by the consumer outlives its parent safely. */
static void child_array_release(struct ArrowArray *a) {
    if (a == NULL || a->release == NULL) return;
    ChildPriv *pv = (ChildPriv *)a->private_data;
    store_decref(pv->st);
    free(pv);
    a->private_data = NULL;
    a->release = NULL;
}

static void array_release(struct ArrowArray *a) {
    if (a == NULL || a->release == NULL) return;
    ArrayPriv *pv = (ArrayPriv *)a->private_data;
    for (int64_t i = 0; i < a->n_children; i++) {
        struct ArrowArray *ch = pv->ptrs[i];
        if (ch != NULL && ch->release != NULL) ch->release(ch);
    }
    free(pv->kids);
    free(pv->ptrs);
    store_decref(pv->st);
    free(pv);
    a->private_data = NULL;
    a->release = NULL;
}

static int export_array(Store *st, struct ArrowArray *out) {
    size_t n = st->ncols + 1;
    ArrayPriv *pv = calloc(1, sizeof(ArrayPriv));
    struct ArrowArray *kids = calloc(n, sizeof(struct ArrowArray));
    struct ArrowArray **ptrs = calloc(n, sizeof(struct ArrowArray *));
    ChildPriv **cpv = calloc(n, sizeof(ChildPriv *));
    int failed = (pv == NULL || kids == NULL || ptrs == NULL || cpv == NULL);
    for (size_t i = 0; !failed && i < n; i++) {
        cpv[i] = calloc(1, sizeof(ChildPriv));
        if (cpv[i] == NULL) failed = 1;
    }
    if (failed) {
        if (cpv != NULL) {
            for (size_t i = 0; i < n; i++) free(cpv[i]);
        }
        free(cpv);
        free(pv);
        free(kids);
        free(ptrs);
        return ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct ArrowArray *ch = &kids[i];
        ChildPriv *c = cpv[i];
        store_incref(st);
        c->st = st;
        ch->length = st->rows;
        ch->offset = 0;
        ch->n_children = 0;
        ch->children = NULL;
        ch->dictionary = NULL;
        if (i < st->ncols) {
            TextCol *tc = &st->cols[i];
            c->bufs[0] = tc->null_count ? (const void *)tc->valid : NULL;
            c->bufs[1] = tc->offsets;
            c->bufs[2] = tc->data;
            ch->null_count = tc->null_count;
            ch->n_buffers = 3;
        } else {
            c->bufs[0] = NULL;
            c->bufs[1] = st->files;
            c->bufs[2] = NULL;
            ch->null_count = 0;
            ch->n_buffers = 2;
        }
        ch->buffers = c->bufs;
        ch->release = child_array_release;
        ch->private_data = c;
        ptrs[i] = ch;
    }
    free(cpv);
    store_incref(st);
    pv->st = st;
    pv->kids = kids;
    pv->ptrs = ptrs;
    pv->bufs[0] = NULL;
    out->length = st->rows;
    out->null_count = 0;
    out->offset = 0;
    out->n_buffers = 1;
    out->n_children = (int64_t)n;
    out->buffers = pv->bufs;
    out->children = ptrs;
    out->dictionary = NULL;
    out->release = array_release;
    out->private_data = pv;
    return 0;
}

static int stream_get_schema(struct ArrowArrayStream *s, struct ArrowSchema *out) {
    StreamPriv *pv = (StreamPriv *)s->private_data;
    int r = export_schema(pv->st, out);
    pv->last_error = r ? ERR_NOMEM_TEXT : NULL;
    return r;
}

static int stream_get_next(struct ArrowArrayStream *s, struct ArrowArray *out) {
    StreamPriv *pv = (StreamPriv *)s->private_data;
    if (pv->done || pv->st->rows == 0) {
        memset(out, 0, sizeof(*out)); /* release == NULL: end of stream */
        pv->done = 1;
        return 0;
    }
    int r = export_array(pv->st, out);
    if (r) {
        pv->last_error = ERR_NOMEM_TEXT;
        return r;
    }
    pv->last_error = NULL;
    pv->done = 1;
    return 0;
}

static const char *stream_get_last_error(struct ArrowArrayStream *s) {
    return ((StreamPriv *)s->private_data)->last_error;
}

static void stream_release(struct ArrowArrayStream *s) {
    if (s == NULL || s->release == NULL) return;
    StreamPriv *pv = (StreamPriv *)s->private_data;
    store_decref(pv->st);
    free(pv);
    s->private_data = NULL;
    s->release = NULL;
}

static void capsule_destructor(PyObject *capsule) {
    struct ArrowArrayStream *s = PyCapsule_GetPointer(capsule, "arrow_array_stream");
    if (s == NULL) {
        PyErr_WriteUnraisable(capsule);
        return;
    }
    if (s->release != NULL) s->release(s); /* the consumer did not take it */
    free(s);
}

/* ---------------------------------------------------------------------------------------------------- */
/* The Builder type                                                                                      */

typedef struct {
    PyObject_HEAD
    Plan *plan;
    Store *store;
    uint8_t *ckind;
    uint8_t *nseen;
    Span *spans;
    size_t *saved_len;
    int64_t *saved_nulls;
    unsigned char *scratch;
    size_t scratch_cap;
    int in_use;
    int exported;
    int64_t pub_rows;   /* rows/nbytes as of the last completed call (read with the GIL only) */
    size_t pub_nbytes;
} BuilderObject;

static const char *const REQUIRED[4] = {"eventID", "eventTime", "eventSource", "eventName"};

/* A name from the arguments, as UTF-8: non-empty, no NUL. */
static int name_utf8(PyObject *item, const char *what, const char **out, Py_ssize_t *n) {
    if (!PyUnicode_Check(item)) {
        PyErr_Format(PyExc_TypeError, "%s must be a sequence of str, got an item of type %.100s", what,
                     Py_TYPE(item)->tp_name);
        return -1;
    }
    const char *s = PyUnicode_AsUTF8AndSize(item, n);
    if (s == NULL) return -1;
    if (*n == 0) {
        PyErr_Format(PyExc_ValueError, "%s: empty name", what);
        return -1;
    }
    if (memchr(s, '\0', (size_t)*n) != NULL) {
        PyErr_Format(PyExc_ValueError, "%s: name holds a NUL character", what);
        return -1;
    }
    *out = s;
    return 0;
}

static char *copy_bytes(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d == NULL) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static PyObject *as_fast(PyObject *seq, const char *what) {
    if (PyUnicode_Check(seq) || PyBytes_Check(seq)) {
        PyErr_Format(PyExc_TypeError, "%s must be a sequence of str, not a single string", what);
        return NULL;
    }
    return PySequence_Fast(seq, what);
}

/* Adds an identity path to the tree; returns the leaf's node index, -1 with an exception set. */
static int add_identity_path(Plan *pl, const char *path, size_t n, int col) {
    const char *seg = path;
    const char *end = path + n;
    int node = 0, levels = 0;
    for (;;) {
        const char *dot = memchr(seg, '.', (size_t)(end - seg));
        const char *seg_end = dot ? dot : end;
        size_t len = (size_t)(seg_end - seg);
        int last = dot == NULL;
        levels++;
        if (len == 0 || levels > MAX_IDENTITY_LEVELS) {
            PyErr_Format(PyExc_ValueError, "identity: '%s' is not a dotted path of 1 to %d non-empty keys",
                         path, MAX_IDENTITY_LEVELS);
            return -1;
        }
        int ch = pl->nodes[node].first_child, prev = -1;
        while (ch >= 0 && !(pl->nodes[ch].len == len && memcmp(pl->nodes[ch].name, seg, len) == 0)) {
            prev = ch;
            ch = pl->nodes[ch].next_sibling;
        }
        if (ch >= 0) {
            if (last || pl->nodes[ch].col >= 0) {
                PyErr_Format(PyExc_ValueError,
                             "identity: '%s' repeats a path, or one of the paths is a prefix of the other",
                             path);
                return -1;
            }
            node = ch;
        } else {
            INode *nd = &pl->nodes[pl->nnodes];
            nd->name = copy_bytes(seg, len);
            if (nd->name == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            nd->len = len;
            nd->first_child = -1;
            nd->next_sibling = -1;
            nd->col = last ? col : -1;
            ch = (int)pl->nnodes++;
            if (prev < 0) pl->nodes[node].first_child = ch;
            else pl->nodes[prev].next_sibling = ch;
            node = ch;
        }
        if (last) return node;
        seg = dot + 1;
    }
}

static void builder_clear(BuilderObject *self) {
    plan_free(self->plan);
    self->plan = NULL;
    store_decref(self->store);
    self->store = NULL;
    free(self->ckind);
    self->ckind = NULL;
    free(self->spans);
    self->spans = NULL;
    free(self->nseen);
    self->nseen = NULL;
    free(self->saved_len);
    self->saved_len = NULL;
    free(self->saved_nulls);
    self->saved_nulls = NULL;
    free(self->scratch);
    self->scratch = NULL;
}

static void builder_dealloc(BuilderObject *self) {
    builder_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int builder_setup(BuilderObject *self, PyObject *fseq, PyObject *mseq, PyObject *iseq) {
    Py_ssize_t nf = PySequence_Fast_GET_SIZE(fseq);
    Py_ssize_t nm = PySequence_Fast_GET_SIZE(mseq);
    Py_ssize_t ni = PySequence_Fast_GET_SIZE(iseq);
    if (nf > MAX_COLUMNS || nm > MAX_COLUMNS || ni > MAX_COLUMNS || nf + nm + ni > MAX_COLUMNS) {
        PyErr_Format(PyExc_ValueError, "at most %d columns", MAX_COLUMNS);
        return -1;
    }
    size_t ncols = (size_t)(nf + nm + ni);
    size_t nkeys = (size_t)(nf + nm) + (ni > 0);

    Plan *pl = calloc(1, sizeof(Plan));
    if (pl == NULL) goto nomem;
    self->plan = pl;
    pl->nfields = (size_t)nf;
    pl->nmembers = (size_t)nm;
    pl->nident = (size_t)ni;
    pl->ncols = ncols;

    Store *st = calloc(1, sizeof(Store));
    if (st == NULL) goto nomem;
    atomic_init(&st->refs, 1);
    self->store = st;
    st->cols = calloc(ncols ? ncols : 1, sizeof(TextCol));
    st->names = calloc(ncols + 1, sizeof(char *));
    if (st->cols == NULL || st->names == NULL) goto nomem;
    st->ncols = ncols;
    for (size_t i = 0; i < ncols; i++) {
        TextCol *tc = &st->cols[i];
        if (buf_grow((void **)&tc->data, &tc->cap, INITIAL_DATA)) goto nomem;
        if (buf_grow((void **)&tc->offsets, &tc->off_cap, sizeof(int64_t))) goto nomem;
        tc->offsets[0] = 0;
    }
    if (store_reserve_rows(st, INITIAL_ROWS)) goto nomem;

    self->ckind = calloc(ncols ? ncols : 1, 1);
    self->spans = calloc(ncols ? ncols : 1, sizeof(Span));
    pl->scopes = calloc(ncols ? ncols : 1, sizeof(MemberScope));
    self->nseen = calloc(1 + MAX_IDENTITY_LEVELS * (size_t)ni, 1);
    self->saved_len = calloc(ncols ? ncols : 1, sizeof(size_t));
    self->saved_nulls = calloc(ncols ? ncols : 1, sizeof(int64_t));
    pl->keys = calloc(nkeys ? nkeys : 1, sizeof(KeyEntry));
    size_t slots = 16;
    while (slots < 4 * nkeys) slots *= 2;
    pl->slots = calloc(slots, sizeof(int32_t));
    pl->mask = slots - 1;
    pl->nodes = calloc(1 + MAX_IDENTITY_LEVELS * (size_t)ni, sizeof(INode));
    if (!self->ckind || !self->spans || !pl->scopes || !self->nseen || !self->saved_len || !self->saved_nulls || !pl->keys || !pl->slots ||
        !pl->nodes) {
        goto nomem;
    }
    pl->nodes[0].first_child = -1;
    pl->nodes[0].next_sibling = -1;
    pl->nodes[0].col = -1;
    pl->nnodes = ni > 0 ? 1 : 0;

    /* Column names and the key table. */
    size_t col = 0;
    for (int part = 0; part < 3; part++) {
        PyObject *seq = part == 0 ? fseq : part == 1 ? mseq : iseq;
        const char *what = part == 0 ? "fields" : part == 1 ? "members" : "identity";
        for (Py_ssize_t j = 0; j < PySequence_Fast_GET_SIZE(seq); j++, col++) {
            const char *s;
            Py_ssize_t n;
            if (name_utf8(PySequence_Fast_GET_ITEM(seq, j), what, &s, &n) < 0) return -1;
            if (part < 2) {
                if (n == 12 && memcmp(s, "userIdentity", 12) == 0) {
                    PyErr_Format(PyExc_ValueError, "%s: userIdentity is read through identity paths", what);
                    return -1;
                }
                st->names[col] = copy_bytes(s, (size_t)n);
            } else {
                size_t len = 13 + (size_t)n; /* "userIdentity." + path */
                st->names[col] = malloc(len + 1);
                if (st->names[col] != NULL) {
                    memcpy(st->names[col], "userIdentity.", 13);
                    memcpy(st->names[col] + 13, s, (size_t)n);
                    st->names[col][len] = '\0';
                }
            }
            if (st->names[col] == NULL) goto nomem;
            if (part < 2) {
                const unsigned char *k = (const unsigned char *)st->names[col];
                if (plan_lookup(pl, k, (size_t)n) != NULL) {
                    PyErr_Format(PyExc_ValueError, "%s: %s is given twice (fields and members together)",
                                 what, st->names[col]);
                    return -1;
                }
                KeyEntry *ke = &pl->keys[pl->nkeys];
                ke->name = st->names[col];
                ke->len = (size_t)n;
                ke->kind = part == 0 ? KEY_FIELD : KEY_MEMBER;
                ke->col = (int)col;
                size_t h = hash_bytes(k, (size_t)n) & pl->mask;
                while (pl->slots[h]) h = (h + 1) & pl->mask;
                pl->slots[h] = (int32_t)(++pl->nkeys);
            } else if (add_identity_path(pl, s, (size_t)n, (int)col) < 0) {
                return -1;
            }
        }
    }
    st->names[ncols] = copy_bytes("cloudwardenFile", 15);
    if (st->names[ncols] == NULL) goto nomem;
    if (ni > 0) {
        KeyEntry *ke = &pl->keys[pl->nkeys];
        ke->name = "userIdentity";
        ke->len = 12;
        ke->kind = KEY_IDENTITY;
        ke->col = -1;
        size_t h = hash_bytes((const unsigned char *)"userIdentity", 12) & pl->mask;
        while (pl->slots[h]) h = (h + 1) & pl->mask;
        pl->slots[h] = (int32_t)(++pl->nkeys);
    }
    /* Output column names must be distinct (e.g. a field literally named "userIdentity.arn"). */
    for (size_t i = 0; i <= ncols; i++) {
        for (size_t j = i + 1; j <= ncols; j++) {
            if (strcmp(st->names[i], st->names[j]) == 0) {
                PyErr_Format(PyExc_ValueError, "two columns would be named %s", st->names[i]);
                return -1;
            }
        }
    }
    for (int i = 0; i < 4; i++) {
        const KeyEntry *ke = plan_lookup(pl, (const unsigned char *)REQUIRED[i], strlen(REQUIRED[i]));
        if (ke == NULL || ke->kind != KEY_FIELD) {
            PyErr_Format(PyExc_ValueError, "fields must include %s", REQUIRED[i]);
            return -1;
        }
        pl->required[i] = ke->col;
    }
    self->pub_nbytes = store_nbytes(st);
    return 0;

nomem:
    PyErr_NoMemory();
    return -1;
}

/* Builder(fields, members, identity): __init__ (once; __new__ leaves an empty shell the methods refuse). */
/* One member's scope from `tests`, a sequence of (field, lower, values). */
static int set_scope(Plan *pl, MemberScope *ms, PyObject *tests) {
    PyObject *seq = as_fast(tests, "a member's scope");
    if (seq == NULL) return -1;
    Py_ssize_t nt = PySequence_Fast_GET_SIZE(seq);
    ms->scoped = 1;
    ms->tests = calloc(nt ? (size_t)nt : 1, sizeof(ScopeTest));
    if (ms->tests == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t t = 0; t < nt; t++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, t);
        PyObject *fieldname, *lower, *values;
        if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "OOO", &fieldname, &lower, &values)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a scope test is a (field, lower, values) tuple");
            Py_DECREF(seq);
            return -1;
        }
        ScopeTest *test = &ms->tests[ms->ntests++];
        const char *s;
        Py_ssize_t n;
        if (name_utf8(fieldname, "a scope's field", &s, &n) < 0) goto fail;
        const KeyEntry *ke = plan_lookup(pl, (const unsigned char *)s, (size_t)n);
        if (ke == NULL || ke->kind != KEY_FIELD) {
            PyErr_Format(PyExc_ValueError, "scopes: %s is not one of the fields", s);
            goto fail;
        }
        test->col = ke->col;
        int truth = PyObject_IsTrue(lower);
        if (truth < 0) goto fail;
        test->lower = truth;
        PyObject *vseq = as_fast(values, "a scope's values");
        if (vseq == NULL) goto fail;
        Py_ssize_t nv = PySequence_Fast_GET_SIZE(vseq);
        test->values = calloc(nv ? (size_t)nv : 1, sizeof(char *));
        test->lens = calloc(nv ? (size_t)nv : 1, sizeof(size_t));
        if (test->values == NULL || test->lens == NULL) {
            Py_DECREF(vseq);
            PyErr_NoMemory();
            goto fail;
        }
        for (Py_ssize_t v = 0; v < nv; v++) {
            PyObject *value = PySequence_Fast_GET_ITEM(vseq, v);
            if (!PyUnicode_Check(value)) {
                PyErr_SetString(PyExc_TypeError, "a scope's values must be str");
                Py_DECREF(vseq);
                goto fail;
            }
            const char *u = PyUnicode_AsUTF8AndSize(value, &n);
            if (u == NULL) {
                Py_DECREF(vseq);
                goto fail;
            }
            test->values[test->nvalues] = copy_bytes(u, (size_t)n);
            if (test->values[test->nvalues] == NULL) {
                Py_DECREF(vseq);
                PyErr_NoMemory();
                goto fail;
            }
            test->lens[test->nvalues++] = (size_t)n;
        }
        Py_DECREF(vseq);
    }
    Py_DECREF(seq);
    return 0;
fail:
    Py_DECREF(seq);
    return -1;
}

/* `scopes`: {member: [(field, lower, values), ...]}; a member not named is kept on every row. */
static int builder_set_scopes(BuilderObject *self, PyObject *scopes) {
    if (scopes == Py_None) return 0;
    if (!PyDict_Check(scopes)) {
        PyErr_SetString(PyExc_TypeError, "scopes must be a dict of member -> [(field, lower, values), ...]");
        return -1;
    }
    Plan *pl = self->plan;
    PyObject *key, *tests;
    Py_ssize_t pos = 0;
    while (PyDict_Next(scopes, &pos, &key, &tests)) {
        const char *s;
        Py_ssize_t n;
        if (name_utf8(key, "scopes", &s, &n) < 0) return -1;
        const KeyEntry *ke = plan_lookup(pl, (const unsigned char *)s, (size_t)n);
        if (ke == NULL || ke->kind != KEY_MEMBER) {
            PyErr_Format(PyExc_ValueError, "scopes: %s is not one of the members", s);
            return -1;
        }
        if (pl->scopes[ke->col].scoped) {
            PyErr_Format(PyExc_ValueError, "scopes: %s is given twice", s);
            return -1;
        }
        if (set_scope(pl, &pl->scopes[ke->col], tests) < 0) return -1;
    }
    return 0;
}

static int builder_init(BuilderObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"fields", "members", "identity", "scopes", NULL};
    PyObject *fields, *members, *identity, *scopes = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO|$O:Builder", kwlist, &fields, &members, &identity, &scopes))
        return -1;
    if (self->store != NULL || self->plan != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Builder is already initialized");
        return -1;
    }
    PyObject *f = NULL, *m = NULL, *i = NULL;
    int ok = (f = as_fast(fields, "fields")) != NULL && (m = as_fast(members, "members")) != NULL &&
             (i = as_fast(identity, "identity")) != NULL && builder_setup(self, f, m, i) == 0 &&
             builder_set_scopes(self, scopes) == 0;
    Py_XDECREF(f);
    Py_XDECREF(m);
    Py_XDECREF(i);
    if (!ok) {
        builder_clear(self); /* a half-built builder is freed and left unusable */
        return -1;
    }
    return 0;
}

static int builder_ready(BuilderObject *self) {
    if (self->store == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Builder is not initialized");
        return 0;
    }
    return 1;
}

static PyObject *builder_add(BuilderObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"document", "file_index", NULL};
    PyObject *document, *index_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO:add", kwlist, &document, &index_obj)) return NULL;
    if (!builder_ready(self)) return NULL;
    if (self->in_use) {
        PyErr_SetString(PyExc_RuntimeError, "builder is in use by another thread");
        return NULL;
    }
    if (self->exported) {
        PyErr_SetString(PyExc_RuntimeError, "builder already exported");
        return NULL;
    }
    if (!PyBytes_Check(document)) {
        PyErr_Format(PyExc_TypeError, "document must be bytes, not %.100s", Py_TYPE(document)->tp_name);
        return NULL;
    }
    if (!PyLong_Check(index_obj)) {
        PyErr_Format(PyExc_TypeError, "file_index must be int, not %.100s", Py_TYPE(index_obj)->tp_name);
        return NULL;
    }
    int overflow = 0;
    long long index = PyLong_AsLongLongAndOverflow(index_obj, &overflow);
    if (index == -1 && PyErr_Occurred()) return NULL;
    if (overflow || index < INT32_MIN || index > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "file_index does not fit a 32-bit signed integer");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(document, &view, PyBUF_SIMPLE) < 0) return NULL;

    Store *st = self->store;
    const Plan *pl = self->plan;
    int64_t saved_rows = st->rows;
    for (size_t k = 0; k < pl->ncols; k++) {
        self->saved_len[k] = st->cols[k].len;
        self->saved_nulls[k] = st->cols[k].null_count;
    }
    Ctx c;
    c.p = (const unsigned char *)view.buf;
    c.end = c.p + view.len;
    c.ws = 0;
    c.st = st;
    c.pl = pl;
    c.ckind = self->ckind;
    c.nseen = self->nseen;
    c.scratch = self->scratch;
    c.scratch_cap = self->scratch_cap;
    c.spans = self->spans;
    c.file = (int32_t)index;
    int64_t count = 0;
    int r;

    self->in_use = 1;
    Py_BEGIN_ALLOW_THREADS
    r = scan_document(&c, &count);
    if (r != ST_OK) {
        st->rows = saved_rows;
        for (size_t k = 0; k < pl->ncols; k++) {
            st->cols[k].len = self->saved_len[k];
            st->cols[k].null_count = self->saved_nulls[k];
        }
    }
    Py_END_ALLOW_THREADS
    self->in_use = 0;

    self->scratch = c.scratch;
    self->scratch_cap = c.scratch_cap;
    self->pub_rows = st->rows;
    self->pub_nbytes = store_nbytes(st);
    PyBuffer_Release(&view);
    if (r == ST_NOMEM) return PyErr_NoMemory();
    if (r != ST_OK) return PyLong_FromLong(-1);
    return PyLong_FromLongLong(count);
}

static PyObject *builder_arrow_c_stream(BuilderObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"requested_schema", NULL};
    PyObject *requested = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:__arrow_c_stream__", kwlist, &requested)) return NULL;
    (void)requested; /* ignored: the schema is what it is */
    if (!builder_ready(self)) return NULL;
    if (self->in_use) {
        PyErr_SetString(PyExc_RuntimeError, "builder is in use by another thread");
        return NULL;
    }
    struct ArrowArrayStream *s = malloc(sizeof(struct ArrowArrayStream));
    StreamPriv *pv = malloc(sizeof(StreamPriv));
    if (s == NULL || pv == NULL) {
        free(s);
        free(pv);
        return PyErr_NoMemory();
    }
    store_incref(self->store);
    pv->st = self->store;
    pv->done = 0;
    pv->last_error = NULL;
    s->get_schema = stream_get_schema;
    s->get_next = stream_get_next;
    s->get_last_error = stream_get_last_error;
    s->release = stream_release;
    s->private_data = pv;
    PyObject *capsule = PyCapsule_New(s, "arrow_array_stream", capsule_destructor);
    if (capsule == NULL) {
        s->release(s);
        free(s);
        return NULL;
    }
    self->exported = 1;
    return capsule;
}

static PyObject *builder_get_rows(BuilderObject *self, void *Py_UNUSED(closure)) {
    return PyLong_FromLongLong(self->pub_rows);
}

static PyObject *builder_get_nbytes(BuilderObject *self, void *Py_UNUSED(closure)) {
    return PyLong_FromSize_t(self->pub_nbytes);
}

/* Empty the builder for reuse, keeping its buffers (their pages are already faulted in: a fresh builder per
   batch spent ~10% of a load's CPU in the kernel zeroing new pages). Only when nothing exported from it is
   still alive: the store's one reference is then the builder's own. */
static PyObject *builder_reset(BuilderObject *self, PyObject *Py_UNUSED(ignored)) {
    if (!builder_ready(self)) return NULL;
    if (self->in_use) {
        PyErr_SetString(PyExc_RuntimeError, "builder is in use by another thread");
        return NULL;
    }
    Store *st = self->store;
    if (atomic_load_explicit(&st->refs, memory_order_acquire) != 1) Py_RETURN_FALSE;
    for (size_t i = 0; i < st->ncols; i++) {
        TextCol *tc = &st->cols[i];
        if (st->rows > 0) memset(tc->valid, 0, bitmap_bytes((size_t)st->rows)); /* padding bits stay 0 */
        tc->len = 0;
        tc->null_count = 0;
    }
    st->rows = 0;
    self->exported = 0;
    self->pub_rows = 0;
    self->pub_nbytes = store_nbytes(st);
    Py_RETURN_TRUE;
}

static PyMethodDef builder_methods[] = {
    {"reset", (PyCFunction)builder_reset, METH_NOARGS,
     "reset() -> bool\n--\n\n"
     "Empty the builder and unfreeze it, keeping its buffers for the next rows. False (and nothing\n"
     "changed) while a stream, schema or array exported from it is still alive."},
    {"add", (PyCFunction)(void (*)(void))builder_add, METH_VARARGS | METH_KEYWORDS,
     "add(document, file_index) -> int\n--\n\n"
     "Scan one CloudTrail document (bytes) and append one row per record, each with file_index.\n"
     "Returns the number of records appended, or -1 (nothing appended) when the document is declined."},
    {"__arrow_c_stream__", (PyCFunction)(void (*)(void))builder_arrow_c_stream, METH_VARARGS | METH_KEYWORDS,
     "__arrow_c_stream__(requested_schema=None) -> PyCapsule\n--\n\n"
     "A new Arrow C stream over the rows (one struct batch, none when empty). After the first call the\n"
     "builder is frozen: add() raises RuntimeError."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef builder_getset[] = {
    {"rows", (getter)builder_get_rows, NULL, "Rows appended so far.", NULL},
    {"nbytes", (getter)builder_get_nbytes, NULL, "Bytes of column buffers held (allocated capacity).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject BuilderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cloudwarden.detect._ctscan.Builder",
    .tp_basicsize = sizeof(BuilderObject),
    .tp_itemsize = 0,
    .tp_dealloc = (destructor)builder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Builder(fields, members, identity)\n\n"
              "Columns of CloudTrail records: fields as text, members as minified JSON text, identity paths\n"
              "(under userIdentity) as text, and cloudwardenFile (int32), exported as an Arrow C stream.",
    .tp_methods = builder_methods,
    .tp_getset = builder_getset,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)builder_init,
};

static struct PyModuleDef ctscan_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "cloudwarden.detect._ctscan",
    .m_doc = "CloudTrail documents to Arrow text columns without a JSON round trip (see _ctscan.c).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__ctscan(void) {
    init_tables();
    if (PyType_Ready(&BuilderType) < 0) return NULL;
    PyObject *m = PyModule_Create(&ctscan_module);
    if (m == NULL) return NULL;
    Py_INCREF(&BuilderType);
    if (PyModule_AddObject(m, "Builder", (PyObject *)&BuilderType) < 0) {
        Py_DECREF(&BuilderType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
