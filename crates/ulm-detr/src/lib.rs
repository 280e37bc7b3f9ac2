//! DETR and Deformable DETR microbubble localizers in burn.

pub mod ms_deform_attn;
