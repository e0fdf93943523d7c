import streamlit as st

st.title("measures")
