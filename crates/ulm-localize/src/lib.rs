//! Classical microbubble localizers.
