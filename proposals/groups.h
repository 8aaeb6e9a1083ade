/*
 * nadapt — channel-dependency groups: the sets of channels that must shrink
 * together when filters are pruned (internal to the library).
 *
 * A group is born at a layer that makes channels (a Conv's or Gemm's filters)
 * and grows along every path those channels travel: through per-channel ops
 * (BatchNorm, activations, pooling, depthwise convs), into the layers that
 * read them (a Conv's input channels, a Gemm's input columns after Flatten),
 * and across ops that tie channels of different producers together (a residual
 * Add/Sub/Mul/Div unites the groups of both operands, a squeeze-excite gate
 * multiplies a channel by a value computed from a Conv/Gemm, so that layer
 * joins the group).  Concat places each operand's channels at an offset of
 * the consumer's input channels.
 *
 * Every place a group's channels appear in a weight or constant is a member:
 * "along axis A of tensor T, entries [offset + k*per, offset + (k+1)*per)
 * belong to channel k of the group".  Keeping a subset of the channels slices
 * every member (proposals/shrink.c), so one description serves producers,
 * consumers, per-channel parameters, depthwise group counts and Reshape
 * targets alike.
 *
 * A group whose channels reach something the analysis cannot follow exactly
 * (a Reshape that mixes channels, a grouped conv, a Transpose moving the
 * channel axis, the network output ...) is frozen with a one-line reason that
 * names the node; it is listed, never pruned, never silently dropped.
 *
 * Groups are found afresh on every graph (offsets change when a group
 * shrinks); a group is named by its first producer node, so the name is
 * stable across pruning iterations.
 */
#ifndef NAD_PROPOSALS_GROUPS_H
#define NAD_PROPOSALS_GROUPS_H

#include <stdint.h>

#include "graph/graph.h"
#include "nadapt/status.h"

typedef enum nad_member_kind {
    NAD_MEM_FILTERS = 0, /* a weight whose slices along axis are filters of the
                            group's channels (producer Conv/Gemm/MatMul, and a
                            depthwise conv's filters): ranked and sliced      */
    NAD_MEM_PARAM,       /* a per-channel tensor sliced along axis (biases, BN
                            scale/shift/mean/var, broadcast constants)        */
    NAD_MEM_INPUTS,      /* a consumer's weight whose slices along axis read
                            the group's channels (Conv input channels, Gemm/
                            MatMul input columns): sliced, and restored       */
    NAD_MEM_CONV_GROUPS, /* a depthwise conv's group attribute: shrinks by
                            per for every channel removed                     */
    NAD_MEM_RESHAPE,     /* a Reshape whose target states the channel count
                            explicitly: entry `axis` shrinks by per for every
                            channel removed (tensor: the target's constant
                            input, -1 when the target is an attribute)        */
} nad_member_kind;

typedef struct nad_group_member {
    nad_member_kind kind;
    int node;       /* the node this member belongs to                  */
    int tensor;     /* tensor index sliced, -1 for CONV_GROUPS          */
    int axis;       /* axis of tensor (RESHAPE: target entry)           */
    int64_t offset; /* first entry along axis that belongs to the group */
    int64_t per;    /* entries along axis per group channel (>= 1)      */
} nad_group_member;

typedef struct nad_group {
    char name[128];      /* the first producer node's name (stable id)  */
    int channels;        /* current number of channels                  */
    int frozen;          /* 1: never pruned (reason says why)           */
    char reason[256];    /* why it is frozen, naming the node; "" if not */
    nad_group_member *m; /* members, in node order                      */
    int n_m;
} nad_group;

typedef struct nad_groups {
    nad_group *g; /* groups ordered by their first producer's node index */
    int n;
} nad_groups;

/*
 * Finds the channel-dependency groups of g (shapes inferred, any batch).
 * Every Conv/Gemm/MatMul output is in exactly one group (several producers
 * united by residual adds share one); the network output layer's group is
 * frozen.  *out is new (free with nad_groups_free).  Returns NAD_ESTATE
 * without inferred shapes, NAD_ENOMEM.
 */
nad_status nad_groups_find(const nad_graph *g, nad_groups **out, nad_err *e);

/* The index of the group called name in gs, or -1. */
int nad_groups_find_name(const nad_groups *gs, const char *name);

/* Number of groups that can be pruned (not frozen, more than one channel). */
int nad_groups_prunable(const nad_groups *gs);

/* Frees gs; NULL is allowed. */
void nad_groups_free(nad_groups *gs);

/* ---- shrink (proposals/shrink.c) ----------------------------------------- */

/*
 * A new graph: g with group grp cut down to the channels keep[0..n_keep)
 * (ascending, distinct, in [0, grp->channels), 1 <= n_keep).  Every member
 * is sliced, unchanged weights stay shared copy-on-write, and shapes are
 * inferred again for g's batch.  grp must come from nad_groups_find(g).
 */
nad_status nad_shrink(const nad_graph *g, const nad_group *grp, const int *keep, int n_keep, nad_graph **out,
                      nad_err *e);

/* ---- rank (proposals/rank.c) --------------------------------------------- */

typedef enum nad_rank_norm { NAD_RANK_L2 = 0, NAD_RANK_L1 } nad_rank_norm;

/*
 * Scores each of grp's channels by the magnitude of its filters: the L2 (or
 * L1) norm over every FILTERS member's slice for that channel, summed over
 * the members.  score has grp->channels entries.
 */
nad_status nad_rank_channels(const nad_graph *g, const nad_group *grp, nad_rank_norm norm, double *score,
                             nad_err *e);

/* The n_keep best channels by score (ties: lower index), ascending, in keep. */
void nad_rank_keep(const double *score, int channels, int n_keep, int *keep);

#endif
