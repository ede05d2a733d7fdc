//! The edge on 127.0.0.1: in front of real tinycdn origins, other edges and hostile mirrors
//! ([`fabric`]), and in front of a scripted application as an RFC 9111 shared cache ([`proxy`]).

mod attacks;
mod fabric;
mod images;
mod proxy;
mod scrub;
mod tier;
