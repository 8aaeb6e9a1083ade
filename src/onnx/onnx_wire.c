/*
 * A depth and framing pre-check of protobuf wire data, run before
 * protobuf-c's unpacker (which recurses once per nesting level and has no
 * limit: ONNX graphs can hold graphs in attributes, so a small hostile file
 * could nest thousands of levels and overflow the stack).  The walk uses
 * protobuf-c's own descriptors to know which length-delimited fields are
 * messages, and iterates over fields, so its own recursion is bounded by
 * max_depth.
 */
#include "onnx/onnx_internal.h"

/* Reads a varint at *p (< end) into *v; returns 0, or -1 if cut or too long. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << (shift < 64 ? shift : 0);
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* Walks the fields of one message of type desc in [p, end); depth counts the
 * enclosing messages.  Returns 0, 1 when too deep, -1 when malformed. */
static int walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p, const uint8_t *end, int depth,
                int max_depth)
{
    if (depth > max_depth)
        return 1;
    while (p < end) {
        uint64_t key, v;
        if (read_varint(&p, end, &key))
            return -1;
        uint64_t id = key >> 3;
        switch (key & 7) {
        case 0:
            if (read_varint(&p, end, &v))
                return -1;
            break;
        case 1:
            if (end - p < 8)
                return -1;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return -1;
            p += 4;
            break;
        case 2: {
            if (read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return -1;
            const ProtobufCFieldDescriptor *f =
                desc && id <= 0xffffffffu ? protobuf_c_message_descriptor_get_field(desc, (unsigned)id) : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                int rc = walk(f->descriptor, p, p + v, depth + 1, max_depth);
                if (rc)
                    return rc;
            }
            p += v;
            break;
        }
        default: /* groups (3, 4) are not used by onnx.proto; 6, 7 are invalid */
            return -1;
        }
    }
    return 0;
}

nad_status nad_onnx_check_wire(const uint8_t *buf, size_t len, int max_depth, nad_err *e)
{
    int rc = walk(&onnx__model_proto__descriptor, buf, buf + len, 0, max_depth);
    if (rc > 0)
        return nad_errf(e, NAD_EFORMAT, "messages nest deeper than %d levels", max_depth);
    if (rc < 0)
        return nad_errf(e, NAD_EFORMAT, "not an ONNX model (malformed protobuf data)");
    return NAD_OK;
}
