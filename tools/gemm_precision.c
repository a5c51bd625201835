/* The products behind the choice of oneDNN for reduced precision (docs/speed.md): OpenBLAS
 * sgemm against oneDNN's matmul in fp32, bf16 and int8 (u8 x s8 -> s32), single-threaded, on
 * the shapes of the network's products (Winograd points, temporal, mid end, dense). The bf16
 * and int8 timings include converting A from fp32 at every call, as the network must; the
 * weights are converted once. Prints GFLOP/s, the ratio to sgemm and the kernel oneDNN chose.
 *
 *   cc -O2 -o /tmp/gemm_precision tools/gemm_precision.c -ldnnl -lopenblas -lm \
 *      -I/usr/include/x86_64-linux-gnu/openblas-pthread
 *   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /tmp/gemm_precision
 */
#include <dnnl.h>
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <stdint.h>
#include <math.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define CHK(x) do{dnnl_status_t s=(x); if(s!=dnnl_success){printf("fail %s: %d\n",#x,s);exit(1);}}while(0)
int main(int argc,char**argv){
  /* Winograd points (rows of a 4-tile block x kernel width -> outputs), temporal, mid end, dense. */
  int shapes[][3]={{236,204,38},{120,204,67},{96,408,135},{96,204,67},{187,64,561},{187,64,64},{1,200,1506}};
  dnnl_engine_t eng; CHK(dnnl_engine_create(&eng,dnnl_cpu,0));
  dnnl_stream_t st; CHK(dnnl_stream_create(&st,eng,dnnl_stream_default_flags));
  for(int si=0;si<(int)(sizeof shapes/sizeof shapes[0]);si++){
    int M=shapes[si][0],N=shapes[si][1],K=shapes[si][2];
    float*A=malloc(4*M*K),*B=malloc(4*K*N),*C=malloc(4*M*N),*C2=malloc(4*M*N);
    for(int i=0;i<M*K;i++)A[i]=(rand()%1000)/1000.f-0.5f; for(int i=0;i<K*N;i++)B[i]=(rand()%1000)/1000.f-0.5f;
    double flops=2.0*M*N*K; int reps=(int)(3e9/flops)+1;
    cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,M,N,K,1,A,K,B,N,0,C,N);
    double t0=now(); for(int r=0;r<reps;r++) cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,M,N,K,1,A,K,B,N,0,C,N); double ts=now()-t0;
    for(int dt=0;dt<3;dt++){
      dnnl_data_type_t T = dt==0? dnnl_f32 : dt==1? dnnl_bf16 : dnnl_s8;
      dnnl_data_type_t TA = dt==2? dnnl_u8 : T;
      dnnl_memory_desc_t a,b,c; dnnl_dims_t da={M,K},db={K,N},dc={M,N};
      CHK(dnnl_memory_desc_init_by_tag(&a,2,da,TA,dnnl_ab));
      CHK(dnnl_memory_desc_init_by_tag(&b,2,db,T,dnnl_format_tag_any));
      CHK(dnnl_memory_desc_init_by_tag(&c,2,dc,dt==2?dnnl_s32:dnnl_f32,dnnl_ab));
      dnnl_matmul_desc_t md; CHK(dnnl_matmul_desc_init(&md,&a,&b,NULL,&c));
      dnnl_primitive_desc_t pd; CHK(dnnl_primitive_desc_create(&pd,&md,NULL,eng,NULL));
      const char*impl; dnnl_primitive_desc_query(pd,dnnl_query_impl_info_str,0,&impl);
      const dnnl_memory_desc_t*wmd=dnnl_primitive_desc_query_md(pd,dnnl_query_weights_md,0);
      dnnl_primitive_t p; CHK(dnnl_primitive_create(&p,pd));
      // src converted each call (cost included), weights reordered once
      size_t es = dt==0?4: dt==1?2:1;
      void*Ab=malloc(es*M*K); void*Bb=malloc(dnnl_memory_desc_get_size(wmd)); void*Bplain=malloc(es*K*N);
      dnnl_memory_desc_t bplain; CHK(dnnl_memory_desc_init_by_tag(&bplain,2,db,T,dnnl_ab));
      // make plain B in type
      if(dt==0) memcpy(Bplain,B,4*K*N); else if(dt==1){ uint16_t*o=Bplain; for(int i=0;i<K*N;i++){uint32_t u; memcpy(&u,&B[i],4); o[i]=(u+0x7fff+((u>>16)&1))>>16;} } else { int8_t*o=Bplain; for(int i=0;i<K*N;i++) o[i]=(int8_t)(B[i]*200);}
      dnnl_memory_t mbp,mb,ma,mc; CHK(dnnl_memory_create(&mbp,&bplain,eng,Bplain)); CHK(dnnl_memory_create(&mb,wmd,eng,Bb));
      dnnl_primitive_desc_t rpd; CHK(dnnl_reorder_primitive_desc_create(&rpd,&bplain,eng,wmd,eng,NULL)); dnnl_primitive_t rp; CHK(dnnl_primitive_create(&rp,rpd));
      dnnl_exec_arg_t rargs[2]={{DNNL_ARG_FROM,mbp},{DNNL_ARG_TO,mb}}; CHK(dnnl_primitive_execute(rp,st,2,rargs)); dnnl_stream_wait(st);
      CHK(dnnl_memory_create(&ma,&a,eng,Ab)); CHK(dnnl_memory_create(&mc,&c,eng,C2));
      dnnl_exec_arg_t args[3]={{DNNL_ARG_SRC,ma},{DNNL_ARG_WEIGHTS,mb},{DNNL_ARG_DST,mc}};
      double t1=now();
      for(int r=0;r<reps+1;r++){
        if(r==1) t1=now();
        if(dt==0) memcpy(Ab,A,4*M*K); else if(dt==1){ uint16_t*o=Ab; for(int i=0;i<M*K;i++){uint32_t u; memcpy(&u,&A[i],4); o[i]=(u+0x7fff+((u>>16)&1))>>16;} } else { uint8_t*o=Ab; for(int i=0;i<M*K;i++) o[i]=(uint8_t)(A[i]*200+128);}
        CHK(dnnl_primitive_execute(p,st,3,args));
      }
      dnnl_stream_wait(st); double td=now()-t1;
      double err=0,ref=0; if(dt<2){ for(int i=0;i<M*N;i++){double d=C2[i]-C[i]; err+=d*d; ref+=C[i]*(double)C[i];} }
      if(dt<2) printf("M%5d N%4d K%5d %s: sgemm %6.1f GF/s, oneDNN %6.1f GF/s (%.2fx sgemm), relative error %.1e, kernel %s\n",M,N,K,dt==0?"fp32":"bf16",flops*reps/ts/1e9,flops*reps/td/1e9,ts/td,sqrt(err/ref),impl);
      else printf("M%5d N%4d K%5d int8: sgemm %6.1f GF/s, oneDNN %6.1f GF/s (%.2fx sgemm), kernel %s\n",M,N,K,flops*reps/ts/1e9,flops*reps/td/1e9,ts/td,impl);
    }
  }
}
