//! Who the caller is. (Being written on branch wip-auth.)
