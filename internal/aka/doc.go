// Package aka implements UMTS AKA of 3GPP TS 33.102 §6.3 and its SQN management of Annex C on the Milenage algorithm set of TS 35.205/35.206.
package aka
