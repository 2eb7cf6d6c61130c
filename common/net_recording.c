// The per-block recording cache (see net_recording.h).
#include "net_recording.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const void *key_a, *key_b;
    void *recording;
} RecordingEntry;

typedef struct {
    int warmed_up;  // the ops ran eagerly once: safe to record from now on
    int count;
    RecordingEntry entries[NET_RECORDINGS_PER_KEYSET];
} RecordingSet;

struct NetRecordings {
    int n_blocks;
    RecordingSet *sets;  // [block][direction]
    long long replays, recorded, eager;
    int gave_up;  // a recording failed once: the rest of the run is eager
};

int net_enable_recording(Net *net) {
    Backend *be = net->be;
    if (net->recordings) return 1;
    if (!be->record_begin || !be->record_end || !be->replay || !be->recording_free) return 0;
    NetRecordings *r = calloc(1, sizeof *r);
    if (!r) return 0;
    r->n_blocks = net->n_blocks;
    r->sets = calloc((size_t)net->n_blocks * 2, sizeof *r->sets);
    if (!r->sets) {
        free(r);
        return 0;
    }
    net->recordings = r;
    return 1;
}

// Frees every recording of every block and direction; each set runs eagerly
// once more before it records again.
static void drop_all_entries(Backend *be, NetRecordings *r) {
    for (int s = 0; s < r->n_blocks * 2; s++) {
        for (int e = 0; e < r->sets[s].count; e++)
            be->recording_free(be, r->sets[s].entries[e].recording);
        r->sets[s].count = 0;
        r->sets[s].warmed_up = 0;
    }
}

void net_disable_recording(Net *net) {
    NetRecordings *r = net->recordings;
    if (!r) return;
    drop_all_entries(net->be, r);
    free(r->sets);
    free(r);
    net->recordings = NULL;
}

void net_recording_counts(const Net *net, long long *replays, long long *recorded,
                          long long *eager) {
    const NetRecordings *r = net->recordings;
    *replays = r ? r->replays : 0;
    *recorded = r ? r->recorded : 0;
    *eager = r ? r->eager : 0;
}

static RecordingEntry *find_entry(RecordingSet *set, const void *key_a, const void *key_b) {
    for (int e = 0; e < set->count; e++)
        if (set->entries[e].key_a == key_a && set->entries[e].key_b == key_b)
            return &set->entries[e];
    return NULL;
}

static void drop_entry(Backend *be, RecordingSet *set, RecordingEntry *entry) {
    be->recording_free(be, entry->recording);
    *entry = set->entries[--set->count];
}

// Records work into a new entry and replays it; 0 if recording failed (nothing ran).
static int record_and_replay(Net *net, RecordingSet *set, const void *key_a, const void *key_b,
                             BlockWork work, void *ctx) {
    Backend *be = net->be;
    if (be->record_begin(be) != 0) return 0;
    work(ctx);  // recorded, not run
    void *recording = be->record_end(be);
    if (!recording) {
        fprintf(stderr, "%s backend: recording a block failed; running every op eagerly from "
                        "now on\n", be->name);
        net->recordings->gave_up = 1;
        return 0;
    }
    RecordingEntry *entry = &set->entries[set->count++];
    entry->key_a = key_a;
    entry->key_b = key_b;
    entry->recording = recording;
    net->recordings->recorded++;
    if (be->replay(be, recording) != 0) {  // stale at birth cannot happen; be safe anyway
        drop_entry(be, set, entry);
        return 0;
    }
    return 1;
}

void net_run_block_work(Net *net, int block, BlockDirection direction, const void *key_a,
                        const void *key_b, BlockWork work, void *ctx) {
    NetRecordings *r = net->recordings;
    if (!r) {
        work(ctx);
        return;
    }
    Backend *be = net->be;
    RecordingSet *set = &r->sets[block * 2 + direction];
    RecordingEntry *entry = find_entry(set, key_a, key_b);
    if (entry) {
        if (be->replay(be, entry->recording) == 0) {
            r->replays++;
            return;
        }
        // Stale: the workspace moved or the math mode changed (which also forgets
        // the convolution algorithms). That is a backend-wide event, so every
        // other block's recordings from before it are stale too: drop them all
        // now rather than let stale entries fill the sets of keys that never
        // come back. Each block runs eagerly once more, then records again.
        drop_all_entries(be, r);
    }
    if (!r->gave_up && set->warmed_up && set->count < NET_RECORDINGS_PER_KEYSET &&
        record_and_replay(net, set, key_a, key_b, work, ctx))
        return;
    work(ctx);
    set->warmed_up = 1;
    r->eager++;
}
