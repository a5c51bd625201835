#ifndef COpus_SHIM_H
#define COpus_SHIM_H
#include <ogg/ogg.h>
#include <opus/opus.h>

/* opus_decoder_ctl is variadic, which Swift cannot call: one fixed-argument wrapper per request used. */
static inline int genred_opus_set_gain(OpusDecoder *decoder, int gain_q8) {
    return opus_decoder_ctl(decoder, OPUS_SET_GAIN(gain_q8));
}
#endif
