//! CWMP (TR-069 Amendment 6) messages: decode what real CPEs send, encode what the ACS answers.
