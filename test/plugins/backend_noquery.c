/* Test plugin: a backend without the required `query` symbol; websocksy must refuse to start. */
#include "websocksy.h"

uint64_t init(void){
	return WEBSOCKSY_API_VERSION;
}
